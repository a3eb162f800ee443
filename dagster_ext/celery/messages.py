"""The task message: what the run worker sends and the Celery worker reads (JSON-serialisable)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from dagster_ext.celery.claims import StepAttempt
from dagster_ext.dagster_compat.runs import pack_value, unpack_value
from dagster_ext.dagster_compat.step_delegating import ExecuteStepArgs, StepHandlerContext

# Extra message fields for a step, added by the run worker (k8s_job mode renders the step K8s Job here).
MessageExtras = Callable[[StepHandlerContext, str], dict[str, Any]]


@dataclass(frozen=True)
class StepMessage:
    run_id: str
    step_key: str
    attempt: int
    step_args: dict[str, Any]  # packed ExecuteStepArgs
    claims_url: str
    lease_s: float
    step_mode: str = "in_worker"
    dispatch: int = 0  # 0 for the first send, then one more per re-dispatch of a lost step
    k8s: dict[str, Any] = field(default_factory=dict)  # k8s_job mode: the rendered K8s Job

    @property
    def step(self) -> StepAttempt:
        return StepAttempt(self.run_id, self.step_key, self.attempt)

    @property
    def task_id(self) -> str:
        return task_id_for(self.step, self.dispatch)

    def execute_step_args(self) -> ExecuteStepArgs:
        return unpack_value(self.step_args, as_type=ExecuteStepArgs)

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_payload(payload: dict[str, Any]) -> StepMessage:
        return StepMessage(**payload)

    @staticmethod
    def pack(args: ExecuteStepArgs) -> dict[str, Any]:
        packed = pack_value(args)
        assert isinstance(packed, dict)
        return packed


def task_id_for(step: StepAttempt, dispatch: int) -> str:
    return f"dagster-step:{step.run_id}:{step.step_key}:{step.attempt}:{dispatch}"
