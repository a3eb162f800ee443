"""Watch the bench namespace and note, on this host's clock, when each K8s Job appeared, when its
pod was scheduled, started and ended, and when the Job completed.
The API's own timestamps (`creationTimestamp`, `finishedAt`) have one
second resolution; a watch event arrives within milliseconds, so its arrival time is the finer
measure. Both are kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dagster_ext.k8s.client import K8sGateway, WatchEvent

TERMINAL_PHASES = ("Succeeded", "Failed")


def _parse_time(value: str | None) -> float | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


@dataclass(frozen=True)
class PodEnd:
    pod: str
    k8s_job: str
    observed_at: float  # first watch event showing the container terminated
    finished_at: float | None  # the kubelet's finishedAt (1 s resolution)
    reason: str
    exit_code: int | None


@dataclass
class _Seen:
    job_added_at: dict[str, float] = field(default_factory=dict)
    job_created: dict[str, float | None] = field(default_factory=dict)
    pod_ends: dict[str, PodEnd] = field(default_factory=dict)
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: set[str] = field(default_factory=set)
    # k8s_job -> milestone -> first observed (scheduled, running, terminated; complete for the Job)
    milestones: dict[str, dict[str, float]] = field(default_factory=dict)


def _terminated(pod: dict[str, Any]) -> dict[str, Any] | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        terminated = (status.get("state") or {}).get("terminated")
        if terminated:
            return dict(terminated)
    return None


class NamespaceObserver:
    """Watches K8s Jobs and pods of one namespace from `start()` to `stop()`."""

    def __init__(self, gateway: K8sGateway, namespace: str) -> None:
        self._gateway = gateway
        self._namespace = namespace
        self._seen = _Seen()
        self._changed = threading.Condition()
        self._watches = [
            gateway.watch(resource="jobs", namespace=namespace),
            gateway.watch(resource="pods", namespace=namespace),
        ]

    def start(self) -> NamespaceObserver:
        for kind, watch in zip(("jobs", "pods"), self._watches, strict=True):
            threading.Thread(target=self._consume, args=(kind, watch), daemon=True).start()
        return self

    def stop(self) -> None:
        for watch in self._watches:
            watch.stop()

    def _consume(self, kind: str, watch: Any) -> None:
        for event in watch:
            now = time.time()
            with self._changed:
                self._apply(kind, event, now)
                self._changed.notify_all()

    def _apply(self, kind: str, event: WatchEvent, now: float) -> None:
        objects = list(event.objects) if event.type == "SYNC" else [event.object or {}]
        for obj in objects:
            name = str(obj["metadata"]["name"])
            deleted = event.type == "DELETED"
            if kind == "jobs":
                self._note_job(name, obj, now, deleted)
            else:
                self._note_pod(name, obj, now, deleted)

    def _note_job(self, name: str, obj: dict[str, Any], now: float, deleted: bool) -> None:
        if deleted:
            self._seen.jobs.discard(name)
            return
        self._seen.jobs.add(name)
        self._seen.job_added_at.setdefault(name, now)
        conditions = (obj.get("status") or {}).get("conditions") or ()
        if any(c.get("type") == "Complete" and c.get("status") == "True" for c in conditions):
            self._seen.milestones.setdefault(name, {}).setdefault("complete", now)
        self._seen.job_created.setdefault(name, _parse_time(obj["metadata"].get("creationTimestamp")))

    def _note_pod(self, name: str, obj: dict[str, Any], now: float, deleted: bool) -> None:
        if deleted:
            self._seen.pods.pop(name, None)
            return
        self._seen.pods[name] = obj
        self._note_milestones(obj, now)
        terminated = _terminated(obj)
        if terminated and name not in self._seen.pod_ends:
            labels = obj["metadata"].get("labels") or {}
            self._seen.pod_ends[name] = PodEnd(
                pod=name,
                k8s_job=str(labels.get("batch.kubernetes.io/job-name") or labels.get("job-name") or ""),
                observed_at=now,
                finished_at=_parse_time(terminated.get("finishedAt")),
                reason=str(terminated.get("reason") or ""),
                exit_code=terminated.get("exitCode"),
            )

    def _note_milestones(self, pod: dict[str, Any], now: float) -> None:
        labels = pod["metadata"].get("labels") or {}
        job = str(labels.get("batch.kubernetes.io/job-name") or labels.get("job-name") or "")
        if not job:
            return
        seen = self._seen.milestones.setdefault(job, {})
        if (pod.get("spec") or {}).get("nodeName"):
            seen.setdefault("scheduled", now)
        for status in (pod.get("status") or {}).get("containerStatuses") or ():
            state = status.get("state") or {}
            if "running" in state:
                seen.setdefault("running", now)
            if "terminated" in state:
                seen.setdefault("running", now)
                seen.setdefault("terminated", now)

    # -- queries -----------------------------------------------------------------------------
    def wait_until(self, predicate: Callable[[], bool], *, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 1.0))
        return True

    def run_pods_done(self, run_id: str) -> bool:
        """Every pod labelled with `run_id` (run worker and steps) has ended; at least one exists."""
        with self._changed:
            pods = [
                p
                for p in self._seen.pods.values()
                if (p["metadata"].get("labels") or {}).get("dagster/run-id") == run_id
            ]
            return bool(pods) and all((p.get("status") or {}).get("phase") in TERMINAL_PHASES for p in pods)

    def empty(self) -> bool:
        with self._changed:
            return not self._seen.jobs and not self._seen.pods

    def job_added_at(self, name: str) -> float | None:
        with self._changed:
            return self._seen.job_added_at.get(name)

    def job_created(self, name: str) -> float | None:
        with self._changed:
            return self._seen.job_created.get(name)

    def milestones_of(self, k8s_job: str) -> dict[str, float]:
        """When the K8s Job's first pod was seen scheduled, running, terminated; the Job complete."""
        with self._changed:
            return dict(self._seen.milestones.get(k8s_job, {}))

    def pod_end_of(self, k8s_job: str) -> PodEnd | None:
        with self._changed:
            ends = [e for e in self._seen.pod_ends.values() if e.k8s_job == k8s_job]
        return min(ends, key=lambda e: e.observed_at) if ends else None
