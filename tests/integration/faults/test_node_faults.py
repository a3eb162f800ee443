"""Node faults while step pods run: the kubelet or containerd restarts (the containers keep running
under their shims, and the step outcomes must still reach the run), and a step pod deleted by someone
else, which must be reported as deleted rather than as a crash of the user's code. Hang guards only."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.faults.test_apiserver_restart import (
    _local,
    _wait_for_first_step,
    assert_succeeded_with_one_k8s_job_per_step,
)
from tests.integration.step_executor.test_step_executor import _step_failure, location
from tests.integration.step_jobs import wait_for_running_step_pods

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
    assert_succeeded_with_one_k8s_job_per_step(deployment, k8s_cluster, k8s_namespace, run_id)


def test_step_pod_deleted_by_someone_else_is_reported_as_deleted(
    dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str
) -> None:
    deployment = dagster_deployment(location=location())
    run_id = deployment.launch("step_sleepy")
    running = wait_for_running_step_pods(k8s_cluster, k8s_namespace, run_id, at_least=1)
    k8s_cluster.core_v1.delete_namespaced_pod(running[0].metadata.name, k8s_namespace)
    assert deployment.wait_for_run(run_id, timeout_s=240).status.value == "FAILURE"
    # The step executor's own diagnosis (one engine event per failed step K8s Job) names the
    # deletion; the step process may also have written its own failure when SIGTERM reached it.
    reported = [
        m
        for m in deployment.event_messages(run_id)
        if m.startswith("Step pod ") and not m.startswith("Step pod waiting")
    ]
    assert reported and all(m.startswith("Step pod deleted: PodDeleted") for m in reported), reported
    message, _ = _step_failure(deployment, run_id)
    assert "BackoffLimitExceeded:" not in message and "OOMKilled" not in message, message
