"""Node faults while step pods run: the kubelet or containerd restarts (the containers keep running
under their shims, and the step outcomes must still reach the run), and a step pod deleted by someone
else, which must be reported as deleted rather than as a crash of the user's code. Hang guards only."""

from __future__ import annotations

import pickle
import time
from collections import Counter
from typing import Any

import pytest

from tests.integration.faults.test_apiserver_restart import STEPS, _local, _wait_for_first_step
from tests.integration.step_executor.test_step_executor import _step_failure, location
from tests.integration.step_jobs import step_pods, wait_all_complete

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


@pytest.mark.parametrize("component", ["kubelet", "containerd"])
def test_run_survives_a_node_component_restart(
    component: str, dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str
) -> None:
    local = _local(k8s_cluster)
    deployment = dagster_deployment(location=location())
    run_id = deployment.launch("process_numbers_k8s")
    _wait_for_first_step(k8s_cluster, k8s_namespace, run_id)
    local.restart_component(component, down_s=3.0)
    run = deployment.wait_for_run(run_id, timeout_s=300)
    assert run.status.value == "SUCCESS", deployment.event_messages(run_id)[-30:]
    result = deployment.home / "storage" / run_id / "sum_two_sums" / "result"
    assert pickle.loads(result.read_bytes()) == 55
    jobs = wait_all_complete(k8s_cluster, k8s_namespace, run_id, count=STEPS)
    per_step = Counter(j.metadata.labels["dagster/op"] for j in jobs)
    assert all(n == 1 for n in per_step.values()) and len(per_step) == STEPS, per_step


def test_step_pod_deleted_by_someone_else_is_reported_as_deleted(
    dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str
) -> None:
    deployment = dagster_deployment(location=location())
    run_id = deployment.launch("step_sleepy")
    deadline = time.monotonic() + 120
    running: list[Any] = []
    while not running:
        assert time.monotonic() < deadline, "no step pod ever ran"
        running = [p for p in step_pods(k8s_cluster, k8s_namespace, run_id) if p.status.phase == "Running"]
        time.sleep(0.5)
    k8s_cluster.core_v1.delete_namespaced_pod(running[0].metadata.name, k8s_namespace)
    assert deployment.wait_for_run(run_id, timeout_s=240).status.value == "FAILURE"
    message, _ = _step_failure(deployment, run_id)
    assert "PodDeleted" in message or "deleted" in message, message
    assert "OOMKilled" not in message and "exit code 1 " not in message, message
