"""The run worker killed (SIGKILL, as the kernel's OOM killer or a node agent would) while a step
K8s Job of the K8s step executor runs.

With `run_monitoring.max_resume_run_attempts` > 0, run monitoring in the daemon sees the failed run
K8s Job and resumes the run with a new run worker, which skips the finished step and follows the
step K8s Job the dead worker started (it is owned by the dead worker's pod, which stays as a failed
pod): the run succeeds with each step run once. With 0, the run fails and the failure names the
signal. Bounds are hang guards only.
"""

from __future__ import annotations

import os
import pickle
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.integration.faults.test_apiserver_restart import _local
from tests.integration.step_executor.test_step_executor import location
from tests.integration.step_jobs import step_k8s_jobs, step_pods

pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]

HANG_GUARD_S = 240


def _wait_for_running_step(k8s_cluster: Any, namespace: str, run_id: str, op: str) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while not any(
        p.status.phase == "Running" and p.metadata.labels.get("dagster/op") == op
        for p in step_pods(k8s_cluster, namespace, run_id)
    ):
        assert time.monotonic() < deadline, f"the step pod of {op} never ran"
        time.sleep(0.5)


def _run_worker_pids(run_id: str) -> list[int]:
    """Processes of this machine (the node) running `dagster api execute_run` for `run_id`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"execute_run" in cmdline and run_id.encode() in cmdline and b"pytest" not in cmdline:
            found.append(int(entry.name))
    return found


def _kill_run_worker(run_id: str) -> None:
    deadline = time.monotonic() + 60
    while not (pids := _run_worker_pids(run_id)):
        assert time.monotonic() < deadline, "no run worker process found on the node"
        time.sleep(0.5)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


def _step_starts(deployment: Any, run_id: str) -> Counter[str]:
    instance = deployment.instance()
    try:
        records = instance.all_logs(run_id)
    finally:
        instance.dispose()
    return Counter(
        r.dagster_event.step_key
        for r in records
        if r.dagster_event is not None and r.dagster_event.event_type_value == "STEP_START"
    )


def _kill_the_run_worker_mid_step(
    dagster_deployment: Any, k8s_cluster: Any, namespace: str, *, max_resume_run_attempts: int
) -> tuple[Any, str, Any, list[str]]:
    """Launch `step_resumable`, SIGKILL its run worker while the second step runs, wait for the
    run to end: (deployment, run id, run, event messages)."""
    _local(k8s_cluster)  # kills a process on the node: needs the local cluster
    deployment = dagster_deployment(
        location=location(), daemon=True, monitoring={"max_resume_run_attempts": max_resume_run_attempts}
    )
    run_id = deployment.launch("step_resumable")
    _wait_for_running_step(k8s_cluster, namespace, run_id, "resume_slow")
    _kill_run_worker(run_id)
    run = deployment.wait_for_run(run_id, timeout_s=HANG_GUARD_S)
    return deployment, run_id, run, deployment.event_messages(run_id)


def test_killed_run_worker_is_resumed_without_rerunning_finished_steps(
    dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str
) -> None:
    deployment, run_id, run, messages = _kill_the_run_worker_mid_step(
        dagster_deployment, k8s_cluster, k8s_namespace, max_resume_run_attempts=1
    )
    assert run.status.value == "SUCCESS", messages[-30:]
    assert any("Resuming run" in m for m in messages), "run monitoring did not resume the run"
    assert pickle.loads((deployment.home / "storage" / run_id / "resume_slow" / "result").read_bytes()) == 2
    # Each step ran once: the finished one was skipped, the running one followed, not restarted.
    assert _step_starts(deployment, run_id) == Counter({"resume_first": 1, "resume_slow": 1})
    per_op = Counter(
        j.metadata.labels["dagster/op"] for j in step_k8s_jobs(k8s_cluster, k8s_namespace, run_id)
    )
    assert per_op == Counter({"resume_first": 1, "resume_slow": 1}), per_op
    run_jobs = k8s_cluster.batch_v1.list_namespaced_job(
        k8s_namespace, label_selector=f"dagster/run-id={run_id},app.kubernetes.io/component=run_worker"
    ).items
    assert len(run_jobs) == 2, [j.metadata.name for j in run_jobs]  # the first worker and its resumption


def test_killed_run_worker_without_resume_fails_the_run_naming_the_signal(
    dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str
) -> None:
    _, run_id, run, messages = _kill_the_run_worker_mid_step(
        dagster_deployment, k8s_cluster, k8s_namespace, max_resume_run_attempts=0
    )
    assert run.status.value == "FAILURE", messages[-30:]
    failure = [m for m in messages if "Marking run" in m and "as failed" in m]
    assert failure and "SIGKILL" in failure[0] and "137" in failure[0], messages[-20:]
    assert not any("Resuming run" in m for m in messages)
    # Nobody is left to clean up the dead worker's step K8s Job: delete it (the fixture checks).
    for k8s_job in step_k8s_jobs(k8s_cluster, k8s_namespace, run_id):
        k8s_cluster.batch_v1.delete_namespaced_job(
            k8s_job.metadata.name, k8s_namespace, propagation_policy="Background"
        )
