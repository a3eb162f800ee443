"""K8sJobTracker's on-demand pod mode, against a scripted gateway: which requests it makes when
(what the real apiserver cannot be asked to do on cue: a pod failing at a chosen instant)."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Any

import pytest

from dagster_ext.k8s.client import WatchEvent
from dagster_ext.k8s.status import FailureReason, K8sJobState
from dagster_ext.k8s.tracking import K8sJobTracker

NAME = "dagster-step-abc"


class FakeWatch:
    def __init__(self, resource: str, kwargs: dict[str, Any]) -> None:
        self.resource = resource
        self.kwargs = kwargs
        self.description = resource
        self._events: queue.Queue[WatchEvent | None] = queue.Queue()

    def push(self, event: WatchEvent) -> None:
        self._events.put(event)

    def stop(self) -> None:
        self._events.put(None)

    def __iter__(self) -> Iterator[WatchEvent]:
        while (event := self._events.get()) is not None:
            yield event


class FakeGateway:
    def __init__(self, pods: list[dict[str, Any]] | None = None) -> None:
        self.watches: dict[str, FakeWatch] = {}
        self.pod_lists: list[str] = []
        self.pods = pods or []

    def watch(self, *, resource: str, **kwargs: Any) -> FakeWatch:
        watch = FakeWatch(resource, kwargs)
        if kwargs.get("initial_list", True):
            watch.push(WatchEvent("SYNC", objects=()))
        self.watches[resource] = watch
        return watch

    def list_pods(self, *, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        self.pod_lists.append(label_selector)
        return list(self.pods)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def k8s_job(version: int, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": NAME,
            "resourceVersion": str(version),
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"backoffLimit": 0},
        "status": status,
    }


OOM_POD = {
    "metadata": {
        "name": f"{NAME}-x1",
        "labels": {"job-name": NAME},
        "creationTimestamp": "2026-01-01T00:00:01Z",
    },
    "status": {
        "phase": "Failed",
        "containerStatuses": [
            {"name": "dagster", "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}
        ],
    },
}


def on_demand(gateway: FakeGateway, clock: Clock) -> K8sJobTracker:
    return K8sJobTracker(
        gateway,  # type: ignore[arg-type]
        namespace="ns",
        label_selector="dagster/run-id=r",
        pods="on_demand",
        escalate_after_s=10.0,
        clock=clock,
    ).start()


def deliver(
    tracker: K8sJobTracker, gateway: FakeGateway, obj: dict[str, Any], kind: str = "MODIFIED"
) -> None:
    gateway.watches["jobs"].push(WatchEvent(kind, obj))  # type: ignore[arg-type]
    version = obj["metadata"]["resourceVersion"]
    assert tracker.wait_until(
        lambda: (tracker.k8s_job(NAME) or {}).get("metadata", {}).get("resourceVersion") == version,
        timeout_s=5,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_watch_mode_lists_and_watches_all_three(clock: Clock) -> None:
    gateway = FakeGateway()
    tracker = K8sJobTracker(gateway, namespace="ns", label_selector="s").start()  # type: ignore[arg-type]
    try:
        assert set(gateway.watches) == {"jobs", "pods", "events"}
        assert all(w.kwargs["initial_list"] for w in gateway.watches.values())
        assert tracker.wait_synced(timeout_s=5)
    finally:
        tracker.stop()


def test_healthy_step_costs_one_watch_and_nothing_else(clock: Clock) -> None:
    gateway = FakeGateway()
    tracker = on_demand(gateway, clock)
    try:
        assert set(gateway.watches) == {"jobs"} and gateway.watches["jobs"].kwargs["initial_list"] is False
        deliver(tracker, gateway, k8s_job(1), kind="ADDED")
        clock.now += 3
        assert tracker.observe(NAME).state is K8sJobState.PENDING
        deliver(tracker, gateway, k8s_job(2, active=1, ready=1))
        clock.now += 600  # a long-running step with a ready pod is never "stuck"
        assert not tracker.observe(NAME).failed
        deliver(
            tracker, gateway, k8s_job(3, succeeded=1, conditions=[{"type": "Complete", "status": "True"}])
        )
        assert tracker.observe(NAME).state is K8sJobState.SUCCEEDED
        assert set(gateway.watches) == {"jobs"} and gateway.pod_lists == []
    finally:
        tracker.stop()


def test_failed_pod_is_fetched_once_per_newly_reported_failure(clock: Clock) -> None:
    gateway = FakeGateway(pods=[OOM_POD])
    tracker = on_demand(gateway, clock)
    try:
        deliver(tracker, gateway, k8s_job(1, active=1, ready=1), kind="ADDED")
        deliver(tracker, gateway, k8s_job(2, uncountedTerminatedPods={"failed": ["uid-1"]}))
        found = tracker.observe(NAME)
        assert found.reason is FailureReason.OOM_KILLED and found.pod_name == f"{NAME}-x1"
        assert gateway.pod_lists == [f"job-name={NAME}"]
        tracker.observe(NAME)
        # The same failure, counted and concluded: answered from memory.
        failed = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
        deliver(tracker, gateway, k8s_job(3, failed=1, conditions=failed))
        assert tracker.observe(NAME).reason is FailureReason.OOM_KILLED
        assert len(gateway.pod_lists) == 1
        # A second failed pod (a Job with retries) is worth another look.
        deliver(tracker, gateway, k8s_job(4, failed=1, uncountedTerminatedPods={"failed": ["uid-2"]}))
        tracker.observe(NAME)
        assert len(gateway.pod_lists) == 2
        assert set(gateway.watches) == {"jobs"}
    finally:
        tracker.stop()


def test_a_job_without_a_ready_pod_escalates_to_pod_and_event_watches(clock: Clock) -> None:
    gateway = FakeGateway()
    tracker = on_demand(gateway, clock)
    try:
        deliver(tracker, gateway, k8s_job(1, active=1, ready=0), kind="ADDED")
        clock.now += 9.9
        tracker.observe(NAME)
        assert set(gateway.watches) == {"jobs"}
        clock.now += 0.2
        tracker.observe(NAME)
        assert set(gateway.watches) == {"jobs", "pods", "events"}
        assert gateway.watches["pods"].kwargs["label_selector"] == "dagster/run-id=r"
        assert "reason=FailedCreate" in gateway.watches["events"].kwargs["field_selector"]
        tracker.observe(NAME)
        assert len(gateway.watches) == 3  # once per tracker
    finally:
        tracker.stop()


BACKOFF_EXCEEDED = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]


def test_a_step_pod_gone_before_the_fetch_is_reported_deleted(clock: Clock) -> None:
    """Someone deleted the only pod: the Job counts it failed at once, and it is gone when listed."""
    gateway = FakeGateway(pods=[])
    tracker = on_demand(gateway, clock)
    try:
        deliver(tracker, gateway, k8s_job(1, active=1, ready=1), kind="ADDED")
        deliver(tracker, gateway, k8s_job(2, failed=1, conditions=BACKOFF_EXCEEDED))
        found = tracker.observe(NAME)
        assert found.reason is FailureReason.POD_DELETED, found
        assert gateway.pod_lists == [f"job-name={NAME}"]
    finally:
        tracker.stop()


def test_a_pod_seen_at_one_fetch_and_gone_at_the_next_is_kept_for_the_diagnosis(clock: Clock) -> None:
    replacement = {
        "metadata": {
            "name": f"{NAME}-x2",
            "labels": {"job-name": NAME},
            "creationTimestamp": "2026-01-01T00:00:02Z",
        },
        "spec": {"nodeName": "n1"},
        "status": {"phase": "Running", "containerStatuses": [{"name": "dagster", "state": {"running": {}}}]},
    }
    gateway = FakeGateway(pods=[replacement])
    tracker = on_demand(gateway, clock)
    try:
        job = k8s_job(1, active=1, ready=1, failed=1)
        job["spec"]["backoffLimit"] = 1
        deliver(tracker, gateway, job, kind="ADDED")
        assert not tracker.observe(NAME).failed  # a retry left: the replacement runs
        gateway.pods = []  # someone deletes the replacement
        failed = k8s_job(2, failed=2, conditions=BACKOFF_EXCEEDED)
        failed["spec"]["backoffLimit"] = 1
        deliver(tracker, gateway, failed)
        found = tracker.observe(NAME)
        assert len(gateway.pod_lists) == 2
        assert found.reason is FailureReason.POD_DELETED and found.pod_name == f"{NAME}-x2", found
        assert found.node == "n1" and tracker.pods_of(NAME) == []
    finally:
        tracker.stop()


def test_watch_mode_keeps_the_last_state_of_a_deleted_pod(clock: Clock) -> None:
    gateway = FakeGateway()
    tracker = K8sJobTracker(gateway, namespace="ns", label_selector="s").start()  # type: ignore[arg-type]
    try:
        assert tracker.wait_synced(timeout_s=5)
        deleted = {
            "metadata": {
                "name": f"{NAME}-x3",
                "labels": {"job-name": NAME},
                "creationTimestamp": "2026-01-01T00:00:03Z",
                "deletionTimestamp": "2026-01-01T00:01:00Z",
            },
            "status": {"phase": "Running"},
        }
        gateway.watches["pods"].push(WatchEvent("ADDED", deleted))  # type: ignore[arg-type]
        gateway.watches["pods"].push(WatchEvent("DELETED", deleted))  # type: ignore[arg-type]
        assert tracker.wait_until(lambda: f"{NAME}-x3" in tracker._cache.gone_pods, timeout_s=5)
        assert tracker.pods_of(NAME) == []  # nothing to stream logs from
        deliver(tracker, gateway, k8s_job(1, failed=1, conditions=BACKOFF_EXCEEDED), kind="ADDED")
        found = tracker.diagnose(NAME)
        assert found.reason is FailureReason.POD_DELETED and found.pod_name == f"{NAME}-x3", found
    finally:
        tracker.stop()
