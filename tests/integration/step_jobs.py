"""Step K8s Jobs and pods of a run, as both the K8s step executor and the Celery `k8s_job` mode
create them (`app.kubernetes.io/component=step_worker`), and the seed's expected pod resources."""

from __future__ import annotations

import time
from typing import Any

# The examples' 2 CPU / 4 GiB limits in either spelling (the job tag's, or the launcher default's),
# and their requests (small enough for a run pod and parallel step pods on a two-core node).
SEED_LIMITS = ({"cpu": "2", "memory": "4Gi"}, {"cpu": "2000m", "memory": "4096Mi"})
SEED_REQUESTS = ({"cpu": "250m", "memory": "512Mi"},)


def step_selector(run_id: str) -> str:
    """The step K8s Jobs (and pods) of `run_id`, or of every run with ""."""
    component = "app.kubernetes.io/component=step_worker"
    return f"dagster/run-id={run_id},{component}" if run_id else component


def step_k8s_jobs(k8s_cluster: Any, namespace: str, run_id: str) -> list[Any]:
    selector = step_selector(run_id)
    return list(k8s_cluster.batch_v1.list_namespaced_job(namespace, label_selector=selector).items)


def step_pods(k8s_cluster: Any, namespace: str, run_id: str) -> list[Any]:
    selector = step_selector(run_id)
    return list(k8s_cluster.core_v1.list_namespaced_pod(namespace, label_selector=selector).items)


def wait_all_complete(k8s_cluster: Any, namespace: str, run_id: str, *, count: int) -> list[Any]:
    """The run may report success while its last step pod is still exiting."""
    deadline = time.monotonic() + 60
    while True:
        jobs = step_k8s_jobs(k8s_cluster, namespace, run_id)
        if len(jobs) == count and all(j.status.succeeded == 1 for j in jobs):
            return jobs
        summary = [(j.metadata.name, j.status.succeeded, j.status.failed) for j in jobs]
        assert time.monotonic() < deadline, f"expected {count} completed step K8s Jobs, got {summary}"
        time.sleep(0.5)


def wait_for_running_step_pods(k8s_cluster: Any, namespace: str, run_id: str, *, at_least: int) -> list[Any]:
    """The run's step pods once at least `at_least` of them are Running (a hang guard of 120 s)."""
    deadline = time.monotonic() + 120
    while True:
        running = [p for p in step_pods(k8s_cluster, namespace, run_id) if p.status.phase == "Running"]
        if len(running) >= at_least:
            return running
        assert time.monotonic() < deadline, f"fewer than {at_least} step pods ever ran"
        time.sleep(0.5)
