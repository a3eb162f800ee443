"""Where one step's time goes, from the moment it is ready to the moment the run worker acts on its
end: events from the run's event log and milestones the namespace observer saw (both on this host's
clock, watch arrival for the Kubernetes side).

    ready            its upstream's STEP_SUCCESS (run start for a root step)
    K8s Job created  the Job's ADDED watch event
    pod scheduled    the pod first seen bound to the node (kube-scheduler)
    container up     the container first seen running (kubelet, containerd, runc)
    Python up        STEP_WORKER_STARTED (`dagster api execute_step` has imported the code)
    STEP_START       the op begins
    STEP_SUCCESS     the op's result is stored
    Job Complete     the Job's Complete condition seen by the watch
    run worker sees  the first downstream STEP_WORKER_STARTING (the executor acted on the success)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bench.measures import Event

COLD_START_NOTE = "filter_even_numbers of process_numbers: one upstream, one downstream step"
MILESTONES = (
    "K8s Job created",
    "pod scheduled",
    "container up",
    "Python up",
    "STEP_START",
    "STEP_SUCCESS",
    "Job Complete",
    "run worker sees it",
)


def _first(events: Sequence[Event], kind: str, step: str | None = None) -> float | None:
    times = [e.timestamp for e in events if e.type == kind and (step is None or e.step_key == step)]
    return min(times) if times else None


def breakdown(
    events: Sequence[Event],
    *,
    step: str,
    upstream: Sequence[str],
    downstream: Sequence[str],
    k8s_job_added: float | None,
    milestones: Mapping[str, float],
) -> dict[str, float | None]:
    """Seconds from one milestone to the next (None where one was not seen)."""
    if upstream:
        ups = [_first(events, "STEP_SUCCESS", u) for u in upstream]
        ready = max(ups) if all(u is not None for u in ups) else None  # type: ignore[type-var]
    else:
        ready = _first(events, "RUN_START")
    sees = [_first(events, "STEP_WORKER_STARTING", d) for d in downstream]
    points = [
        ready,
        k8s_job_added,
        milestones.get("scheduled"),
        milestones.get("running"),
        _first(events, "STEP_WORKER_STARTED", step),
        _first(events, "STEP_START", step),
        _first(events, "STEP_SUCCESS", step),
        milestones.get("complete"),
        min((s for s in sees if s is not None), default=None),
    ]
    out: dict[str, float | None] = {}
    for name, before, after in zip(MILESTONES, points[:-1], points[1:], strict=True):
        out[name] = None if before is None or after is None else after - before
    total = points[-1] if points[-1] is not None else points[-2]
    out["total"] = None if ready is None or total is None else total - ready
    return out
