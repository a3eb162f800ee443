"""Dagster pools across runs with the K8s step executor, on the real node: the slot is claimed in the
run worker before the step K8s Job is created, so never more step pods of a pool run at once than
the pool allows, whatever the number of runs; slots come back when steps end, and when a run worker
is killed (run monitoring fails the run, the daemon frees its slots)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import yaml

from dagster_ext.testing.deployment import DagsterDeployment
from tests.integration.code_location import POOL
from tests.integration.step_executor.test_step_executor import location
from tests.integration.step_jobs import step_selector

LIMIT = 2
RUNS = 3
HANG_GUARD_S = 300


def enable_pools(deployment: DagsterDeployment, *, limit: int) -> None:
    """Op-granularity pools in the instance, and the pool's limit in the event log storage."""
    path = deployment.home / "dagster.yaml"
    config = yaml.safe_load(path.read_text())
    config["concurrency"] = {"pools": {"granularity": "op"}}
    path.write_text(yaml.safe_dump(config))
    instance = deployment.instance()
    try:
        instance.event_log_storage.set_concurrency_slots(POOL, limit)
    finally:
        instance.dispose()


def claimed_slots(deployment: DagsterDeployment) -> tuple[int, int]:
    """(claimed slots, steps waiting for one) of the pool, from the instance."""
    instance = deployment.instance()
    try:
        info = instance.event_log_storage.get_concurrency_info(POOL)
        return len(info.claimed_slots), len(info.pending_steps)
    finally:
        instance.dispose()


class RunningPods:
    """Step pods of every run whose container runs, from a watch on the apiserver; keeps the
    highest number seen at once."""

    def __init__(self, k8s_cluster: Any, namespace: str) -> None:
        self._cluster = k8s_cluster
        self._namespace = namespace
        self._running: set[str] = set()
        self.peak = 0
        self.seen: set[str] = set()
        self._stop = threading.Event()

    def _watch(self) -> None:
        from kubernetes import watch

        while not self._stop.is_set():
            w = watch.Watch()
            stream = w.stream(
                self._cluster.core_v1.list_namespaced_pod,
                self._namespace,
                label_selector=step_selector(""),
                timeout_seconds=2,
            )
            for event in stream:
                pod = event["object"]
                statuses = pod.status.container_statuses or []
                running = event["type"] != "DELETED" and any(s.state.running for s in statuses)
                if running:
                    self._running.add(pod.metadata.name)
                    self.seen.add(pod.metadata.name)
                else:
                    self._running.discard(pod.metadata.name)
                self.peak = max(self.peak, len(self._running))

    @contextmanager
    def watching(self) -> Iterator[RunningPods]:
        thread = threading.Thread(target=self._watch, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=10)


def wait_slots_free(deployment: DagsterDeployment, timeout_s: float) -> tuple[int, int]:
    deadline = time.monotonic() + timeout_s
    while (slots := claimed_slots(deployment)) != (0, 0) and time.monotonic() < deadline:
        time.sleep(0.25)
    return slots


def test_pool_limit_holds_across_runs(dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str) -> None:
    deployment = dagster_deployment(location=location())
    enable_pools(deployment, limit=LIMIT)
    with RunningPods(k8s_cluster, k8s_namespace).watching() as pods:
        run_ids = [deployment.launch("step_pooled") for _ in range(RUNS)]
        for run_id in run_ids:
            run = deployment.wait_for_run(run_id, timeout_s=HANG_GUARD_S)
            assert run.status.value == "SUCCESS", deployment.event_messages(run_id)[-30:]
    assert len(pods.seen) == 2 * RUNS, pods.seen
    assert 1 <= pods.peak <= LIMIT, pods.peak
    # Released as each step ends (the run worker frees it when it reads the step's end).
    assert wait_slots_free(deployment, timeout_s=30) == (0, 0)
    # With 6 steps and 2 slots, some steps waited, and their runs' logs say so.
    waits = [m for r in run_ids for m in deployment.event_messages(r) if "blocked by limit for pool" in m]
    assert waits, "no step reported waiting for a pool slot"


def test_killed_run_worker_slots_are_freed(
    dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str
) -> None:
    deployment: DagsterDeployment = dagster_deployment(
        location=location(), daemon=True, monitoring={"free_slots_after_run_end_seconds": 1}
    )
    enable_pools(deployment, limit=1)
    run_id = deployment.launch("step_pooled_long")
    deadline = time.monotonic() + HANG_GUARD_S
    while claimed_slots(deployment)[0] != 1:
        assert time.monotonic() < deadline, deployment.event_messages(run_id)[-20:]
        time.sleep(0.5)
    # Kill the run worker: delete its K8s Job (and pod) as a node loss or `kubectl delete` would.
    selector = f"dagster/run-id={run_id},app.kubernetes.io/component=run_worker"
    for k8s_job in k8s_cluster.batch_v1.list_namespaced_job(k8s_namespace, label_selector=selector).items:
        k8s_cluster.batch_v1.delete_namespaced_job(
            k8s_job.metadata.name, k8s_namespace, propagation_policy="Background", grace_period_seconds=0
        )
    run = deployment.wait_for_run(run_id, timeout_s=HANG_GUARD_S)
    assert run.status.value == "FAILURE", run.status
    assert wait_slots_free(deployment, timeout_s=HANG_GUARD_S) == (0, 0)
    wait_step_pods_gone(k8s_cluster, k8s_namespace, run_id)


def wait_step_pods_gone(k8s_cluster: Any, namespace: str, run_id: str) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while k8s_cluster.batch_v1.list_namespaced_job(namespace, label_selector=step_selector(run_id)).items:
        if time.monotonic() > deadline:
            raise AssertionError("step K8s Jobs left behind")
        for k8s_job in k8s_cluster.batch_v1.list_namespaced_job(
            namespace, label_selector=step_selector(run_id)
        ).items:
            k8s_cluster.batch_v1.delete_namespaced_job(
                k8s_job.metadata.name, namespace, propagation_policy="Background"
            )
        time.sleep(1)


def test_unschedulable_pod_holding_a_pool_slot_is_named(
    dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str
) -> None:
    deployment = dagster_deployment(location=location())
    enable_pools(deployment, limit=1)
    run_config = {"execution": {"config": {"failure_grace_seconds": {"unschedulable": 20}}}}
    run_id = deployment.launch("step_pooled_unschedulable", run_config=run_config)
    run = deployment.wait_for_run(run_id, timeout_s=HANG_GUARD_S)
    messages = deployment.event_messages(run_id)
    assert run.status.value == "FAILURE", messages[-20:]
    held = [m for m in messages if f'holds a slot of pool "{POOL}" while its pod cannot be scheduled' in m]
    assert len(held) == 1, [m for m in messages if "pod" in m.lower() or "error" in m.lower()]
    assert "no-such-node" not in held[0]  # names the pool and step, never a configuration value
    assert wait_slots_free(deployment, timeout_s=60) == (0, 0)
