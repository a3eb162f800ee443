"""The Celery bench code location: the same no-op jobs once per executor.

Only the executor differs between the `*_ours`, `*_peer` and `*_in_process` variants: ours is
`dagster_ext.celery.celery_queue_executor`, the peer `dagster_celery.celery_executor`, and
`in_process` is Dagster's own executor, the baseline that tells executor overhead from the cost of
Dagster's step machinery (events written to PostgreSQL, output handling) that every executor pays.
The ops do nothing, so every measured second is orchestration.
"""

from __future__ import annotations

from collections.abc import Callable

from dagster import (
    Definitions,
    ExecutorDefinition,
    In,
    JobDefinition,
    Nothing,
    in_process_executor,
    job,
    op,
)
from dagster_celery import celery_executor as peer_executor

from dagster_ext.celery import celery_queue_executor as our_executor

CHAIN_LENGTH = 20
FAN_OUT_STEPS = 200  # one root and FAN_OUT_STEPS - 1 leaves
WARMUP_STEPS = 9  # a root and 8 leaves: every slot process of a 4-slot worker runs at least one step

EXECUTORS: dict[str, ExecutorDefinition] = {
    "ours": our_executor,
    "ours_fetch_off": our_executor,  # same executor; its worker runs with --no-fetch-at-step-end
    "ours_read_ahead": our_executor,  # ... with --read-ahead 1
    "ours_tuned": our_executor,  # ... with --read-ahead 1 --slot-nice 10
    "peer": peer_executor,
    "in_process": in_process_executor,
}


@op
def root() -> None:
    """A no-op step with no upstream."""


@op(ins={"after": In(Nothing)})
def link() -> None:
    """A no-op step after one upstream step."""


def chain_job(name: str, executor_def: ExecutorDefinition) -> JobDefinition:
    """`link_00` → `link_01` → … : each step becomes ready only when the previous one succeeded, so
    the makespan is the sum of per-step latencies."""

    @job(name=name, executor_def=executor_def)
    def chain() -> None:
        previous = root.alias("link_00")()
        for index in range(1, CHAIN_LENGTH):
            previous = link.alias(f"link_{index:02d}")(after=previous)

    return chain


def _fan_out(name: str, executor_def: ExecutorDefinition, steps: int) -> JobDefinition:
    @job(name=name, executor_def=executor_def)
    def fan_out() -> None:
        first = root()
        for index in range(steps - 1):
            link.alias(f"leaf_{index:03d}")(after=first)

    return fan_out


def fan_out_job(name: str, executor_def: ExecutorDefinition) -> JobDefinition:
    """One root, then all leaves ready at once: the queue is never empty, so throughput and slot
    utilisation measure how fast the workers take the next step, and the cap is tested under load."""
    return _fan_out(name, executor_def, FAN_OUT_STEPS)


def warmup_job(name: str, executor_def: ExecutorDefinition) -> JobDefinition:
    """Run once before measuring, so every worker process has imported Dagster and the code."""
    return _fan_out(name, executor_def, WARMUP_STEPS)


# scenario -> (job builder, executors it runs with)
SCENARIOS: dict[str, tuple[Callable[[str, ExecutorDefinition], JobDefinition], tuple[str, ...]]] = {
    "warmup": (warmup_job, ("ours", "ours_fetch_off", "ours_read_ahead", "ours_tuned", "peer")),
    "chain_20": (chain_job, ("ours", "peer", "in_process")),
    "fan_out_200": (fan_out_job, ("ours", "ours_fetch_off", "ours_read_ahead", "ours_tuned", "peer")),
}


def job_name(scenario: str, executor: str) -> str:
    return f"{scenario}_{executor}"


defs = Definitions(
    jobs=[
        build(job_name(scenario, executor), EXECUTORS[executor])
        for scenario, (build, executors) in SCENARIOS.items()
        for executor in executors
    ]
)
