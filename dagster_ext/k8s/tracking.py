"""`K8sJobTracker`: an in-memory mirror of a set of K8s Jobs, their pods and FailedCreate Events.

Watches per label selector replace dagster-k8s's one GET per running step every 20 s: status
questions are answered from memory, and waiters wake the moment a watch event arrives. Used by
the step executor (one tracker per run), the Celery K8s-Job mode and `execute_k8s_job`.

Two ways to follow pods:

- `pods="watch"`: three list+watches (Jobs, pods, Job FailedCreate Events) from the start; for
  callers that need pod details all along (log streaming, waiting on one K8s Job).
- `pods="on_demand"`: one watch on the Jobs only, which is all a healthy step needs. Pod details
  are fetched when a Job's status says a pod failed (one pod list for that Job), and the pod and
  Event watches start only when a Job has had no ready pod for `escalate_after_s` (image pull,
  unschedulable, FailedCreate, config errors). A run of healthy steps then costs one request plus
  one create per step.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal

from dagster_ext.k8s.client import K8sGateway, ResourceWatch, WatchEvent
from dagster_ext.k8s.node_capacity import NodeCapacityCache
from dagster_ext.k8s.status import Diagnosis, DiagnosisSettings, diagnose
from dagster_ext.k8s.status.pods import JsonDict, condition

log = logging.getLogger(__name__)

JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
PodsMode = Literal["watch", "on_demand"]
ESCALATE_AFTER_S = 10.0


def _name(obj: JsonDict) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _job_of_pod(pod: JsonDict) -> str | None:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    for key in JOB_NAME_LABELS:
        if key in labels:
            return str(labels[key])
    return None


def _condition_true(k8s_job: JsonDict, kind: str) -> bool:
    found = condition(k8s_job, kind)
    return found is not None and found.get("status") == "True"


def _finished(k8s_job: JsonDict) -> bool:
    return _condition_true(k8s_job, "Complete") or _condition_true(k8s_job, "Failed")


def _failed_pods_reported(k8s_job: JsonDict) -> int | None:
    """How many failed pods the Job's status reports (None: no failure at all). Pod details are
    worth one request each time this number grows; the counted/uncounted hand-over and the
    conditions that follow the same failure add nothing."""
    status = k8s_job.get("status") or {}
    uncounted = len((status.get("uncountedTerminatedPods") or {}).get("failed") or ())
    total = int(status.get("failed") or 0) + uncounted
    if total or _condition_true(k8s_job, "FailureTarget") or _condition_true(k8s_job, "Failed"):
        return total
    return None


@dataclass
class _Cache:
    jobs: dict[str, JsonDict] = field(default_factory=dict)
    pods: dict[str, JsonDict] = field(default_factory=dict)
    events: dict[str, JsonDict] = field(default_factory=dict)
    synced: set[str] = field(default_factory=set)
    # K8s Job names that existed in the cache once: their disappearance means deletion.
    seen_jobs: set[str] = field(default_factory=set)
    # The last state seen of pods deleted since: what explains a K8s Job that counted them failed.
    gone_pods: dict[str, JsonDict] = field(default_factory=dict)


class K8sJobTracker:
    """Mirror of the K8s Jobs matching `label_selector` in `namespace`; call `start()` then query."""

    def __init__(
        self,
        gateway: K8sGateway,
        *,
        namespace: str,
        label_selector: str,
        diagnosis: DiagnosisSettings | None = None,
        pods: PodsMode = "watch",
        escalate_after_s: float = ESCALATE_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
        capacity: NodeCapacityCache | None = None,
    ) -> None:
        self.namespace = namespace
        self.label_selector = label_selector
        self._gateway = gateway
        self._diagnosis = diagnosis or DiagnosisSettings()
        self._capacity = capacity or NodeCapacityCache(gateway)
        self._pods_mode = pods
        self._escalate_after_s = escalate_after_s
        self._clock = clock
        self._cache = _Cache()
        self._changed = threading.Condition()
        self._watches: list[ResourceWatch] = []
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []
        self._watching_pods = False
        self._unready_since: dict[str, float] = {}  # K8s Job -> when it was first seen without a ready pod
        self._fetched: dict[str, int] = {}  # K8s Job -> failed pods its status reported when we listed them

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> K8sJobTracker:
        on_demand = self._pods_mode == "on_demand"
        # A new selection (a new run) starts empty: skip the first list when pods come on demand.
        self._start_watch("jobs", label_selector=self.label_selector, initial_list=not on_demand)
        if not on_demand:
            self._start_pod_watches()
        return self

    def _start_pod_watches(self) -> None:
        self._watching_pods = True
        self._start_watch("pods", label_selector=self.label_selector)
        self._start_watch("events", field_selector="involvedObject.kind=Job,reason=FailedCreate")

    def _start_watch(
        self,
        kind: str,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        initial_list: bool = True,
    ) -> None:
        watch = self._gateway.watch(
            resource=kind,  # type: ignore[arg-type]
            namespace=self.namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            initial_list=initial_list,
        )
        self._watches.append(watch)
        thread = threading.Thread(
            target=self._consume, args=(kind, watch), name=f"k8s-watch-{kind}-{self.namespace}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def stop(self, *, join_timeout_s: float = 5.0) -> None:
        for watch in self._watches:
            watch.stop()
        for thread in self._threads:
            thread.join(join_timeout_s)
        with self._changed:
            self._changed.notify_all()

    def wait_synced(self, timeout_s: float = 30.0) -> bool:
        """Block until every watch delivered its first list (so absence means absence). False on
        timeout or when a watch gave up (e.g. 403: see `errors`).

        Only meaningful with `pods="watch"`; an on-demand tracker does not list first."""
        if self._pods_mode == "on_demand":
            return True
        self.wait_until(lambda: len(self._cache.synced) == 3 or bool(self._errors), timeout_s=timeout_s)
        return len(self._cache.synced) == 3

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
                    if kind == "pods":
                        self._cache.gone_pods[_name(event.object)] = event.object
                else:
                    store[_name(event.object)] = event.object
            if kind == "jobs":
                self._cache.seen_jobs.update(store)
                self._note_readiness(event)
            self._changed.notify_all()

    def _note_readiness(self, event: WatchEvent) -> None:
        objects = event.objects if event.type == "SYNC" else (event.object,)
        for obj in objects:
            if obj is None:
                continue
            name = _name(obj)
            ready = int((obj.get("status") or {}).get("ready") or 0)
            if event.type == "DELETED" or ready > 0 or _finished(obj):
                self._unready_since.pop(name, None)
            else:
                self._unready_since.setdefault(name, self._clock())

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
            gone = [p for p in self._cache.gone_pods.values() if _job_of_pod(p) == name]
            events = [
                e for e in self._cache.events.values() if (e.get("involvedObject") or {}).get("name") == name
            ]
        return diagnose(
            k8s_job=k8s_job,
            pods=pods,
            gone_pods=gone,
            events=events,
            now=datetime.now(timezone.utc),
            settings=self._diagnosis,
            log_tail=log_tail,
            capacity=self._capacity.for_pods(pods),
        )

    def observe(self, name: str) -> Diagnosis:
        """`diagnose`, after fetching what an on-demand tracker lacks to answer: the pods of a
        Job whose status reports a failed pod, or (once per tracker) pod and Event watches when a
        Job has had no ready pod for `escalate_after_s`."""
        if self._pods_mode == "on_demand" and not self._watching_pods:
            with self._changed:
                k8s_job = self._cache.jobs.get(name)
                unready_for = self._clock() - self._unready_since.get(name, self._clock())
            reported = _failed_pods_reported(k8s_job) if k8s_job is not None else None
            if reported is not None and reported > self._fetched.get(name, -1):
                self._fetch_pods_of(name, reported)
            elif reported is None and unready_for >= self._escalate_after_s:
                log.info(
                    "K8s Job %s/%s has had no ready pod for %.0f s: watching pods and Events",
                    self.namespace,
                    name,
                    unready_for,
                )
                self._start_pod_watches()
                self.wait_until(lambda: {"pods", "events"} <= self._cache.synced, timeout_s=10.0)
        return self.diagnose(name)

    def _fetch_pods_of(self, name: str, reported: int) -> None:
        pods = self._gateway.list_pods(namespace=self.namespace, label_selector=f"job-name={name}")
        with self._changed:
            listed = {_name(pod) for pod in pods}
            for stale in [key for key, pod in self._cache.pods.items() if _job_of_pod(pod) == name]:
                gone = self._cache.pods.pop(stale)
                if stale not in listed:  # seen at an earlier fetch, deleted since
                    self._cache.gone_pods[stale] = gone
            self._cache.pods.update({_name(pod): pod for pod in pods})
            self._fetched[name] = reported

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
