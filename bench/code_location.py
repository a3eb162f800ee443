"""The bench code location: the same jobs twice, once per step executor.

Only the executor differs between the `*_ours` and `*_peer` variants: ours is
`dagster_ext.k8s.k8s_job_executor`, the peer is `dagster_k8s.k8s_job_executor`. Both run under our
K8s run launcher. Neither sets `max_concurrent`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dagster import Definitions, ExecutorDefinition, In, JobDefinition, Nothing, job, op  # noqa: E402
from dagster_k8s import k8s_job_executor as peer_executor  # noqa: E402

from dagster_ext.k8s import k8s_job_executor as our_executor  # noqa: E402
from examples.numbers_ops import (  # noqa: E402
    filter_even_numbers,
    filter_odd_numbers,
    generate_numbers,
    sum_even_numbers,
    sum_odd_numbers,
    sum_two_sums,
)

FAN_OUT_WIDTH = 50
EXECUTORS: dict[str, ExecutorDefinition] = {"ours": our_executor, "peer": peer_executor}
OOM_LIMIT = "512Mi"


@op
def fan_out_root() -> None:
    """The one root step; every leaf waits for it."""


@op(ins={"after": In(Nothing)})
def fan_out_leaf() -> None:
    """A no-op leaf step."""


def fan_out_job(name: str, executor_def: ExecutorDefinition) -> JobDefinition:
    @job(name=name, executor_def=executor_def)
    def fan_out() -> None:
        root = fan_out_root()
        for index in range(FAN_OUT_WIDTH):
            fan_out_leaf.alias(f"leaf_{index:02d}")(after=root)

    return fan_out


def process_numbers_job(name: str, executor_def: ExecutorDefinition) -> JobDefinition:
    """The seed's `process_numbers` graph, ops (and their step tags) imported from the examples."""

    @job(name=name, executor_def=executor_def, tags={"domain": "numbers"})
    def process_numbers() -> None:
        numbers = generate_numbers()
        even_sum = sum_even_numbers(filter_even_numbers(numbers))
        odd_sum = sum_odd_numbers(filter_odd_numbers(numbers))
        sum_two_sums(even_sum, odd_sum)

    return process_numbers


def _allocate_until_killed() -> int:
    chunks = [bytearray(64 * 1024 * 1024) for _ in range(32)]  # 2 GiB, zero-filled so touched
    return len(chunks)


@op(tags={"dagster-k8s/config": {"container_config": {"resources": {"limits": {"memory": OOM_LIMIT}}}}})
def oom_step() -> int:
    """Exceeds its memory limit after the pod started: the kernel OOM-kills it (no STEP_FAILURE from the
    step itself), so only the executor's health check can report the failure."""
    return _allocate_until_killed()


def oom_job(name: str, executor_def: ExecutorDefinition) -> JobDefinition:
    @job(name=name, executor_def=executor_def)
    def step_oom() -> None:
        oom_step()

    return step_oom


SCENARIOS: dict[str, Any] = {
    "fan_out_50": fan_out_job,
    "process_numbers": process_numbers_job,
    "oom": oom_job,
}


def job_name(scenario: str, executor: str) -> str:
    return f"{scenario}_{executor}"


defs = Definitions(
    jobs=[
        build(job_name(scenario, executor), executor_def)
        for scenario, build in SCENARIOS.items()
        for executor, executor_def in EXECUTORS.items()
    ]
)
