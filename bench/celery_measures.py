"""Pure figures of one Celery bench run, from its Dagster event log.

A step's span is its first `STEP_START` to its `STEP_SUCCESS`, both written by the process that ran
the step, on the same host clock as every other event. Every executor here runs steps the same way
(Dagster's `execute_plan_iterator` inside the worker), so the spans mean the same for all of them.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.measures import Event, makespan_s

# The run worker's event for "this step was handed to the queue": ours writes STEP_WORKER_STARTING,
# dagster-celery an engine event with this message prefix.
QUEUED_MESSAGE_PREFIX = "Submitting celery task"


@dataclass(frozen=True)
class StepSpan:
    step_key: str
    start: float
    end: float


def step_spans(events: Sequence[Event]) -> dict[str, StepSpan]:
    """Steps that succeeded: first STEP_START (a re-dispatched step has two) -> STEP_SUCCESS."""
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for event in events:
        if event.step_key is None:
            continue
        if event.type == "STEP_START":
            starts.setdefault(event.step_key, event.timestamp)
        elif event.type == "STEP_SUCCESS":
            ends[event.step_key] = event.timestamp
    return {key: StepSpan(key, starts[key], ends[key]) for key in ends if key in starts}


def queued_at(events: Sequence[Event]) -> dict[str, float]:
    """When the run worker handed each step to the queue (its first launch event)."""
    found: dict[str, float] = {}
    for event in events:
        if event.step_key is None:
            continue
        if event.type == "STEP_WORKER_STARTING" or (
            event.type == "ENGINE_EVENT" and event.message.startswith(QUEUED_MESSAGE_PREFIX)
        ):
            found.setdefault(event.step_key, event.timestamp)
    return found


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def peak_concurrency(spans: Sequence[StepSpan]) -> int:
    """Most steps between their start and end at one moment (an end sorts before a start at the same t)."""
    edges = sorted([(s.start, 1) for s in spans] + [(s.end, -1) for s in spans])
    current = peak = 0
    for _, delta in edges:
        current += delta
        peak = max(peak, current)
    return peak


def chain_figures(events: Sequence[Event], order: Sequence[str]) -> dict[str, Any]:
    """A serial chain: per-step latency two ways, and what a step costs inside and between steps.

    - `per_step_s`: run makespan (RUN_START -> RUN_SUCCESS) / steps.
    - `handoff_median_s`: upstream STEP_SUCCESS -> next STEP_START, the executor's own latency.
    - `cycle_median_s`: STEP_SUCCESS -> next STEP_SUCCESS, what one more warm step adds to the run.
    - `body_median_s`: STEP_START -> STEP_SUCCESS of a no-op step (Dagster's step machinery).
    - `queued_to_start_median_s`: the run worker's queue event -> STEP_START (broker + worker).
    """
    spans = step_spans(events)
    queued = queued_at(events)
    done = [spans[key] for key in order if key in spans]
    pairs = list(itertools.pairwise(done))
    makespan = makespan_s(events)
    return {
        "steps": len(done),
        "makespan_s": makespan,
        "per_step_s": makespan / len(order) if makespan is not None and len(done) == len(order) else None,
        "handoff_median_s": _median([b.start - a.end for a, b in pairs]),
        "handoff_max_s": max((b.start - a.end for a, b in pairs), default=None),
        "cycle_median_s": _median([b.end - a.end for a, b in pairs]),
        "body_median_s": _median([s.end - s.start for s in done]),
        "ready_to_queued_median_s": _median(
            [queued[b.step_key] - a.end for a, b in pairs if b.step_key in queued]
        ),
        "queued_to_start_median_s": _median(
            [s.start - queued[s.step_key] for s in done if s.step_key in queued]
        ),
    }


def fan_out_figures(events: Sequence[Event], *, expected_steps: int, slots: int) -> dict[str, Any]:
    """Many ready steps for few slots: throughput, the cap, and how busy the slots were.

    - `window_s`: first STEP_START -> last STEP_SUCCESS.
    - `throughput_steps_per_s`: succeeded steps / window.
    - `peak_concurrency`: most steps executing at once (must be <= slots).
    - `utilisation`: sum of step spans / (slots x window).
    """
    spans = list(step_spans(events).values())
    if not spans:
        return {"steps": 0, "expected_steps": expected_steps}
    window = max(s.end for s in spans) - min(s.start for s in spans)
    busy = sum(s.end - s.start for s in spans)
    return {
        "steps": len(spans),
        "expected_steps": expected_steps,
        "slots": slots,
        "makespan_s": makespan_s(events),
        "window_s": window,
        "throughput_steps_per_s": len(spans) / window if window > 0 else None,
        "peak_concurrency": peak_concurrency(spans),
        "busy_step_s": busy,
        "utilisation": busy / (slots * window) if window > 0 else None,
        "body_median_s": _median([s.end - s.start for s in spans]),
    }


def slot_occupancy(claim_log: Sequence[dict[str, Any]], *, slots: int) -> dict[str, Any]:
    """How busy the slots were by our claim log: each step attempt holds its slot from `claimed`
    to `finished` (run lookup, plan, step context, the step, its events). Sum of those spans /
    (slots x first claim -> last finish). Only our executor keeps such a log.
    """
    claimed: dict[tuple[str, int], float] = {}
    spans: list[tuple[float, float]] = []
    for entry in claim_log:
        key = (str(entry.get("step_key")), int(entry.get("attempt") or 0))
        if entry.get("event") == "claimed":
            claimed[key] = float(entry["at"])
        elif entry.get("event") == "finished" and key in claimed:
            spans.append((claimed.pop(key), float(entry["at"])))
    if not spans:
        return {"slot_occupancy": None}
    window = max(end for _, end in spans) - min(start for start, _ in spans)
    busy = sum(end - start for start, end in spans)
    return {
        "claimed_spans": len(spans),
        "slot_occupancy": busy / (slots * window) if window > 0 else None,
    }


def slot_gaps(spans_by_slot: dict[Any, list[tuple[float, float]]]) -> list[float]:
    """Per slot process, the idle time between one task's end and its next task's start."""
    gaps: list[float] = []
    for spans in spans_by_slot.values():
        ordered = sorted(spans)
        gaps += [b[0] - a[1] for a, b in itertools.pairwise(ordered)]
    return gaps


def saturated_utilisation(spans: Sequence[tuple[float, float]], *, slots: int) -> float | None:
    """Busy share of the slots while steps were waiting for them: from the second task's start (the
    first leaf; before it only the root step is ready) to the last task's start (after it the queue
    is empty and slots go idle for want of work, not for the executor). Spans are clipped to it.
    """
    starts = sorted(start for start, _ in spans)
    if len(starts) < 3:
        return None
    begin, end = starts[1], starts[-1]
    if end <= begin:
        return None
    busy = sum(max(0.0, min(e, end) - max(s, begin)) for s, e in spans)
    return busy / (slots * (end - begin))


def slot_task_figures(probe: Sequence[dict[str, Any]], *, slots: int) -> dict[str, Any]:
    """Slot utilisation from Celery's task signals (`bench.celery_slot_probe`), for either executor:
    task spans (task_prerun -> task_postrun in the slot process) over slots x the saturated window
    (`saturated_utilisation`, the goal's measure) and over slots x first task start -> last task end
    (`slot_utilisation_all`, root and drain included); and the idle gap a slot process had between
    two tasks (median, p95).
    """
    probe = [task for task in probe if "start" in task]  # hand-off marks are read by handoff_figures
    if not probe:
        return {"slot_utilisation": None}
    by_pid: dict[Any, list[tuple[float, float]]] = {}
    for task in probe:
        by_pid.setdefault(task["pid"], []).append((float(task["start"]), float(task["end"])))
    spans = [span for pid_spans in by_pid.values() for span in pid_spans]
    window = max(end for _, end in spans) - min(start for start, _ in spans)
    gaps = sorted(slot_gaps(by_pid))
    busy = sum(end - start for start, end in spans)
    return {
        "tasks": len(spans),
        "slot_processes": len(by_pid),
        "slot_utilisation_all": busy / (slots * window) if window > 0 else None,
        "slot_utilisation": saturated_utilisation(spans, slots=slots),
        "task_median_s": _median([end - start for start, end in spans]),
        "slot_gap_median_s": _median(gaps),
        "slot_gap_p95_s": gaps[int(0.95 * (len(gaps) - 1))] if gaps else None,
    }


# A slot's idle time between two tasks: its result reaches the worker's main process, the main
# process dispatches the next request, the slot reads the job, Celery's trace reaches task_prerun.
HANDOFF_SEGMENTS = (
    ("handoff_result_s", "end", "result", "previous"),
    ("handoff_dispatch_s", "result", "dispatch", "across"),
    ("handoff_pipe_s", "dispatch", "got", "next"),
    ("handoff_trace_s", "got", "start", "next"),
)


def handoff_figures(probe: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the hand-off segments between two consecutive tasks of a slot (see
    `bench.celery_slot_probe`): `previous` segments belong to the task that ended, `next` ones to
    the task that followed, `across` goes from the first's result to the second's dispatch. That one
    is slightly negative when a request was already waiting: Celery's pool frees the slot and
    dispatches the waiting request just before it runs the finished task's result callback."""
    times: dict[str, dict[str, float]] = {}
    for line in probe:
        at = times.setdefault(str(line["task_id"]), {})
        if "mark" in line:
            at[line["mark"]] = float(line["t"])
        else:
            at.update(start=float(line["start"]), end=float(line["end"]), pid=line["pid"])
    by_slot: dict[Any, list[dict[str, float]]] = {}
    for at in times.values():
        if "start" in at:
            by_slot.setdefault(at["pid"], []).append(at)
    segments: dict[str, list[float]] = {name: [] for name, *_ in HANDOFF_SEGMENTS}
    for tasks in by_slot.values():
        for first, second in itertools.pairwise(sorted(tasks, key=lambda t: t["start"])):
            for name, begin, end, which in HANDOFF_SEGMENTS:
                origin = first if which in ("previous", "across") else second
                target = second if which in ("next", "across") else first
                if begin in origin and end in target:
                    segments[name].append(target[end] - origin[begin])
    return {name: _median(values) for name, values in segments.items()}
