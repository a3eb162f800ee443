"""`K8sJobTracker`: an in-memory mirror of a set of K8s Jobs, their pods and FailedCreate Events.

Three watches (Jobs, pods, Job FailedCreate Events) per label selector replace dagster-k8s's one
GET per running step every 20 s: status questions are answered from memory, and waiters wake the
moment a watch event arrives. Used by the step executor (one tracker per run), the Celery K8s-Job
mode and `execute_k8s_job`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from dagster_ext.k8s.client import K8sGateway, ResourceWatch, WatchEvent
from dagster_ext.k8s.status import Diagnosis, DiagnosisSettings, diagnose
from dagster_ext.k8s.status.pods import JsonDict

log = logging.getLogger(__name__)

JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


def _name(obj: JsonDict) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _job_of_pod(pod: JsonDict) -> str | None:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    for key in JOB_NAME_LABELS:
        if key in labels:
            return str(labels[key])
    return None


@dataclass
class _Cache:
    jobs: dict[str, JsonDict] = field(default_factory=dict)
    pods: dict[str, JsonDict] = field(default_factory=dict)
    events: dict[str, JsonDict] = field(default_factory=dict)
    synced: set[str] = field(default_factory=set)
    # K8s Job names that existed in the cache once: their disappearance means deletion.
    seen_jobs: set[str] = field(default_factory=set)


class K8sJobTracker:
    """Mirror of the K8s Jobs matching `label_selector` in `namespace`; call `start()` then query."""

    def __init__(
        self,
        gateway: K8sGateway,
        *,
        namespace: str,
        label_selector: str,
        diagnosis: DiagnosisSettings | None = None,
    ) -> None:
        self.namespace = namespace
        self.label_selector = label_selector
        self._gateway = gateway
        self._diagnosis = diagnosis or DiagnosisSettings()
        self._cache = _Cache()
        self._changed = threading.Condition()
        self._watches: list[ResourceWatch] = []
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> K8sJobTracker:
        specs: list[tuple[str, ResourceWatch]] = [
            (
                "jobs",
                self._gateway.watch(
                    resource="jobs", namespace=self.namespace, label_selector=self.label_selector
                ),
            ),
            (
                "pods",
                self._gateway.watch(
                    resource="pods", namespace=self.namespace, label_selector=self.label_selector
                ),
            ),
            (
                "events",
                self._gateway.watch(
                    resource="events",
                    namespace=self.namespace,
                    field_selector="involvedObject.kind=Job,reason=FailedCreate",
                ),
            ),
        ]
        for kind, watch in specs:
            self._watches.append(watch)
            thread = threading.Thread(
                target=self._consume,
                args=(kind, watch),
                name=f"k8s-watch-{kind}-{self.namespace}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()
        return self

    def stop(self, *, join_timeout_s: float = 5.0) -> None:
        for watch in self._watches:
            watch.stop()
        for thread in self._threads:
            thread.join(join_timeout_s)
        with self._changed:
            self._changed.notify_all()

    def wait_synced(self, timeout_s: float = 30.0) -> bool:
        """Block until every watch delivered its first list (so absence means absence)."""
        return self.wait_until(lambda: len(self._cache.synced) == 3, timeout_s=timeout_s)

    # -- consuming ---------------------------------------------------------------------------
    def _consume(self, kind: str, watch: ResourceWatch) -> None:
        try:
            for event in watch:
                self._apply(kind, event)
        except BaseException as err:  # surfaced through `errors`; the run keeps going on point reads
            log.warning("watch of %s %s ended: %s", kind, watch.description, err)
            self._errors.append(err)
            with self._changed:
                self._changed.notify_all()

    def _apply(self, kind: str, event: WatchEvent) -> None:
        with self._changed:
            store: dict[str, JsonDict] = getattr(self._cache, kind)
            if event.type == "SYNC":
                store.clear()
                store.update({_name(obj): obj for obj in event.objects})
                self._cache.synced.add(kind)
            elif event.object is not None:
                if event.type == "DELETED":
                    store.pop(_name(event.object), None)
                else:
                    store[_name(event.object)] = event.object
            if kind == "jobs":
                self._cache.seen_jobs.update(store)
            self._changed.notify_all()

    # -- querying ----------------------------------------------------------------------------
    @property
    def errors(self) -> list[BaseException]:
        return list(self._errors)

    def k8s_job(self, name: str) -> JsonDict | None:
        with self._changed:
            return self._cache.jobs.get(name)

    def was_seen(self, name: str) -> bool:
        with self._changed:
            return name in self._cache.seen_jobs

    def pods_of(self, name: str) -> list[JsonDict]:
        with self._changed:
            return [p for p in self._cache.pods.values() if _job_of_pod(p) == name]

    def events_of(self, name: str) -> list[JsonDict]:
        with self._changed:
            return [
                e for e in self._cache.events.values() if (e.get("involvedObject") or {}).get("name") == name
            ]

    def diagnose(self, name: str, *, log_tail: str | None = None) -> Diagnosis:
        with self._changed:
            k8s_job = self._cache.jobs.get(name)
            pods = [p for p in self._cache.pods.values() if _job_of_pod(p) == name]
            events = [
                e for e in self._cache.events.values() if (e.get("involvedObject") or {}).get("name") == name
            ]
        return diagnose(
            k8s_job=k8s_job,
            pods=pods,
            events=events,
            now=datetime.now(timezone.utc),
            settings=self._diagnosis,
            log_tail=log_tail,
        )

    def wait_until(self, predicate: Callable[[], bool], *, timeout_s: float | None = None) -> bool:
        """Wait for `predicate` (re-evaluated on every watch event; at least every second)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._changed:
            while not predicate():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(1.0 if remaining is None else min(remaining, 1.0))
        return True
