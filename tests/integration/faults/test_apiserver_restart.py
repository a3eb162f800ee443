"""kube-apiserver stopped and started again while step K8s Jobs run (a control-plane upgrade).

The run worker's step executor watches its step K8s Jobs through the API server; when that goes away
the watch must reconnect and relist (not fail the step, not create the step's K8s Job again), and
every step's outcome must still be seen. Bounds are hang guards only.
"""

from __future__ import annotations

import pickle
import time
from collections import Counter
from typing import Any

import pytest

from tests.integration.step_executor.test_step_executor import location
from tests.integration.step_jobs import step_k8s_jobs, wait_all_complete

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

STEPS = 6  # process_numbers_k8s: one step K8s Job per op


def _local(k8s_cluster: Any) -> Any:
    if not k8s_cluster.is_local:
        pytest.skip("restarts the API server: needs the local cluster, not a given kubeconfig")
    return k8s_cluster.local


def _wait_for_first_step(k8s_cluster: Any, namespace: str, run_id: str) -> None:
    deadline = time.monotonic() + 180
    while not step_k8s_jobs(k8s_cluster, namespace, run_id):
        assert time.monotonic() < deadline, "no step K8s Job was created"
        time.sleep(0.2)


def test_run_survives_an_apiserver_restart_mid_run(
    dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str
) -> None:
    local = _local(k8s_cluster)
    deployment = dagster_deployment(location=location())
    run_id = deployment.launch("process_numbers_k8s")
    _wait_for_first_step(k8s_cluster, k8s_namespace, run_id)
    local.restart_apiserver(down_s=5.0)
    # The restart must have happened while the run was in flight, or this test proves nothing.
    instance = deployment.instance()
    try:
        in_flight = instance.get_run_by_id(run_id)
        assert in_flight is not None and not in_flight.is_finished, "the run ended before the restart"
    finally:
        instance.dispose()
    assert_succeeded_with_one_k8s_job_per_step(deployment, k8s_cluster, k8s_namespace, run_id)


def assert_succeeded_with_one_k8s_job_per_step(
    deployment: Any, k8s_cluster: Any, namespace: str, run_id: str
) -> None:
    """process_numbers_k8s succeeded, computed its sum, and no step's K8s Job was created twice."""
    run = deployment.wait_for_run(run_id, timeout_s=300)
    assert run.status.value == "SUCCESS", deployment.event_messages(run_id)[-30:]
    result = deployment.home / "storage" / run_id / "sum_two_sums" / "result"
    assert pickle.loads(result.read_bytes()) == 55
    jobs = wait_all_complete(k8s_cluster, namespace, run_id, count=STEPS)
    per_step = Counter(j.metadata.labels["dagster/op"] for j in jobs)
    assert all(n == 1 for n in per_step.values()) and len(per_step) == STEPS, per_step
