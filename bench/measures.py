"""Pure figures of one run from its Dagster events and what the namespace observer saw."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bench.observer import PodEnd


@dataclass(frozen=True)
class Event:
    type: str
    step_key: str | None
    timestamp: float
    message: str


@dataclass(frozen=True)
class Latencies:
    """Seconds, over the steps that have upstream steps (a root step is ready at run start)."""

    values: tuple[float, ...]

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def p95(self) -> float | None:
        if not self.values:
            return None
        ordered = sorted(self.values)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    @property
    def max(self) -> float | None:
        return max(self.values) if self.values else None


@dataclass(frozen=True)
class FailureDetection:
    pod_end_observed_s: float  # pod end seen by a watch -> STEP_FAILURE
    pod_finished_at_s: float | None  # finishedAt (floored to the second) -> STEP_FAILURE
    message: str
    pod_reason: str


def first(events: Sequence[Event], kind: str, step_key: str | None = None) -> Event | None:
    return next((e for e in events if e.type == kind and (step_key is None or e.step_key == step_key)), None)


def makespan_s(events: Sequence[Event]) -> float | None:
    start = first(events, "RUN_START")
    end = first(events, "RUN_SUCCESS") or first(events, "RUN_FAILURE")
    return end.timestamp - start.timestamp if start and end else None


def ready_to_create(
    events: Sequence[Event],
    upstream: Mapping[str, Sequence[str]],
    created_at: Callable[[str], float | None],
) -> Latencies:
    """Per step: its last upstream STEP_SUCCESS -> its K8s Job appearing in the API."""
    succeeded = {e.step_key: e.timestamp for e in events if e.type == "STEP_SUCCESS" and e.step_key}
    values = []
    for step, parents in upstream.items():
        created = created_at(step)
        if not parents or created is None or any(p not in succeeded for p in parents):
            continue
        values.append(created - max(succeeded[p] for p in parents))
    return Latencies(tuple(values))


def launch_to_create(events: Sequence[Event], created_at: Callable[[str], float | None]) -> Latencies:
    """Per step: STEP_WORKER_STARTING (the executor's launch event) -> K8s Job in the API."""
    values = []
    for event in events:
        if event.type == "STEP_WORKER_STARTING" and event.step_key:
            created = created_at(event.step_key)
            if created is not None:
                values.append(created - event.timestamp)
    return Latencies(tuple(values))


def failure_detection(events: Sequence[Event], pod_end: PodEnd | None) -> FailureDetection | None:
    failure = first(events, "STEP_FAILURE")
    if failure is None or pod_end is None:
        return None
    return FailureDetection(
        pod_end_observed_s=failure.timestamp - pod_end.observed_at,
        pod_finished_at_s=None if pod_end.finished_at is None else failure.timestamp - pod_end.finished_at,
        message=failure.message,
        pod_reason=pod_end.reason,
    )
