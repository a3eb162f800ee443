"""Node faults while step pods run: the kubelet or containerd restarts (the containers keep running
under their shims, and the step outcomes must still reach the run), and a step pod deleted by someone
else, which must be reported as deleted rather than as a crash of the user's code. Hang guards only."""

from __future__ import annotations

import threading
import time
from pathlib import Path
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


def test_a_component_restarted_from_a_worker_thread_outlives_that_thread(k8s_cluster: Any) -> None:
    """Components die with the thread that started them (the parent-death signal follows the
    thread): a restart asked for from a thread that then ends must leave the component running."""
    local = _local(k8s_cluster)

    def restart_then_end() -> None:
        local.restart_component("kube-scheduler")
        time.sleep(1.0)  # let the component set its parent-death signal before this thread ends

    thread = threading.Thread(target=restart_then_end)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "the restart did not finish"
    (scheduler,) = [p for p in local.processes if p.name == "kube-scheduler"]
    time.sleep(2.0)  # the parent-death signal is sent as the thread exits; give it time to land
    assert Path(f"/proc/{scheduler.pid}").exists(), "kube-scheduler died with the restarting thread"
    state = Path(f"/proc/{scheduler.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    assert state != "Z", "kube-scheduler died with the restarting thread"
