"""Dagster's step-delegating executor, its step handlers and the step worker's arguments (see the
package docstring for why they are gathered here).

Both executors subclass `StepDelegatingExecutor`, and the Celery-queue executor also overrides two
of its private members; `OVERRIDDEN_PRIVATE_MEMBERS` lists them so that the compatibility test
checks they still exist with the shape the overrides assume.
"""

from dagster._core.executor.step_delegating import StepDelegatingExecutor
from dagster._core.executor.step_delegating.step_delegating_executor import StepDependencyConfig
from dagster._core.executor.step_delegating.step_handler.base import (
    CheckStepHealthResult,
    StepHandler,
    StepHandlerContext,
)
from dagster._grpc.types import ExecuteStepArgs

# (class, member, what our override relies on), checked by the compatibility test
OVERRIDDEN_PRIVATE_MEMBERS: tuple[tuple[type, str, str], ...] = (
    (
        StepDelegatingExecutor,
        "_pop_events",
        "a method (instance, run_id, seen_storage_ids) returning the new events, called each loop",
    ),
    (
        StepDelegatingExecutor,
        "_sleep_seconds",
        "an attribute set once in __init__ and read by the loop before each sleep",
    ),
)

__all__ = [
    "OVERRIDDEN_PRIVATE_MEMBERS",
    "CheckStepHealthResult",
    "ExecuteStepArgs",
    "StepDelegatingExecutor",
    "StepDependencyConfig",
    "StepHandler",
    "StepHandlerContext",
]
