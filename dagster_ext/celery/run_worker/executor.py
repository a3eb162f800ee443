"""`celery_queue_executor`: Dagster's step-delegating executor with a Celery-backed step handler.

Config keys of dagster-celery's `celery_executor` (broker, backend, include, config_source, retries)
keep their meaning; the rest are ours. The run worker reads the event log when a worker tells it a
step finished (Redis claim store), at the latest every `event_poll_seconds` (0.05 s), instead of
polling each task's result every second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from dagster import DagsterInstance, Enum, EnumValue, Field, Noneable, Permissive, StringSource, executor

from dagster_ext.celery.app import make_celery_app
from dagster_ext.celery.pooling import hold_connections
from dagster_ext.celery.run_worker.handler import CeleryStepHandler
from dagster_ext.celery.settings import (
    DEFAULT_EVENT_POLL_S,
    DEFAULT_LEASE_S,
    DEFAULT_QUEUE,
    DEFAULT_TIME_LIMIT_S,
    settings_from_config,
)
from dagster_ext.dagster_compat.definitions import (
    ExecutionPlan,
    Executor,
    InitExecutorContext,
    PlanOrchestrationContext,
    RetryMode,
    get_retries_config,
    multiple_process_executor_requirements,
)
from dagster_ext.dagster_compat.runs import DagsterEvent
from dagster_ext.dagster_compat.step_delegating import StepDelegatingExecutor

HEALTH_CHECK_INTERVAL_S = 1
log = logging.getLogger(__name__)


def executor_config_schema() -> dict[str, Field]:
    schema: dict[str, Field] = {
        "broker": Field(
            Noneable(StringSource),
            is_required=False,
            description="Celery broker URL (redis://, pyamqp://). Unset: the embedded filesystem queue "
            "under $DAGSTER_HOME/dagster_ext_celery (one host, no server).",
        ),
        "backend": Field(
            Noneable(StringSource),
            is_required=False,
            description="Celery result backend URL. Step results travel through the event log, so it is "
            "only used for step claims when it is redis://.",
        ),
        "include": Field([str], is_required=False, description="Modules every worker imports."),
        "config_source": Field(
            Noneable(Permissive()), is_required=False, description="Extra Celery settings (lowercase names)."
        ),
        "retries": get_retries_config(),
        "step_mode": Field(
            Enum("CeleryStepMode", [EnumValue("in_worker"), EnumValue("k8s_job")]),
            default_value="in_worker",
            description="in_worker: the step runs in the warm worker process. k8s_job: the worker runs the "
            "step as a K8s Job (pod inherits the run pod's spec) and holds its slot until the Job ends.",
        ),
        "default_queue": Field(str, default_value=DEFAULT_QUEUE, description="Queue of untagged steps."),
        "claims_url": Field(
            Noneable(StringSource),
            is_required=False,
            description="Where step claims live (redis:// or sqlite:///path). Default: the Redis broker or "
            "backend, or a SQLite file next to the embedded queue.",
        ),
        "embedded_dir": Field(
            Noneable(StringSource),
            is_required=False,
            description="Where the embedded queue and claims live; unset: $DAGSTER_HOME/dagster_ext_celery.",
        ),
        "claim_lease_seconds": Field(
            float,
            default_value=DEFAULT_LEASE_S,
            description="A step whose worker stopped renewing its claim for this long is dispatched "
            "again; workers renew every third of it.",
        ),
        "step_time_limit_seconds": Field(
            Noneable(int),
            default_value=DEFAULT_TIME_LIMIT_S,
            description="A step running longer is stopped and fails; the Redis visibility timeout is set "
            "longer than this so a running step is never handed to a second worker.",
        ),
        "max_lost_redispatches": Field(int, default_value=3, description="Re-dispatches of a lost step."),
        "event_poll_seconds": Field(
            float,
            default_value=DEFAULT_EVENT_POLL_S,
            description="Longest wait between two event log reads while steps are in flight (a "
            "finished step wakes the run worker at once with a Redis claim store).",
        ),
    }
    from dagster_ext.celery.k8s_steps import k8s_mode_config_schema

    schema.update(k8s_mode_config_schema())
    return schema


class CeleryQueueExecutor(StepDelegatingExecutor):
    """Dagster's step-delegating loop reads the event log (only while steps are in flight), handles
    events, launches ready steps, then sleeps `_sleep_seconds`. Here the read first waits on the
    claim store's wake-up list, which a worker pushes to when it finishes a step: the run worker
    hears of it within a round trip instead of on average half a poll interval later, and the sleep
    after such a wait is skipped. Iterations without a read (nothing in flight) still sleep.
    """

    def __init__(self, handler: CeleryStepHandler, **kwargs: Any) -> None:
        self._waited = False
        self._poll_s = DEFAULT_EVENT_POLL_S
        super().__init__(handler, **kwargs)
        self._handler = handler

    @property  # type: ignore[override]
    def _sleep_seconds(self) -> float:
        waited, self._waited = self._waited, False
        return 0.0 if waited else self._poll_s

    @_sleep_seconds.setter
    def _sleep_seconds(self, value: float) -> None:  # set once by Dagster's __init__
        self._poll_s = value

    def _pop_events(
        self, instance: DagsterInstance, run_id: str, seen_storage_ids: set[int]
    ) -> Sequence[DagsterEvent]:
        try:
            self._handler.store.wait_for_step_end(run_id, self._poll_s)
        except Exception:  # claim store unreachable: poll the event log as Dagster does
            log.warning("could not wait on the claim store; polling the event log", exc_info=True)
            time.sleep(self._poll_s)
        self._waited = True
        return super()._pop_events(instance, run_id, seen_storage_ids)

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        # The run worker tails the event log every event_poll_seconds and writes an event per launch:
        # without a pool, each is a new PostgreSQL connection (see pooling.py).
        hold_connections(plan_context.instance)
        try:
            yield from super().execute(plan_context, execution_plan)
        finally:
            self._handler.close()


@executor(
    name="celery_queue",
    config_schema=executor_config_schema(),
    requirements=multiple_process_executor_requirements(),
)
def celery_queue_executor(init_context: InitExecutorContext) -> Executor:
    """Send each ready step to a Celery queue; the worker slots cap step parallelism across runs.

    Tags as in dagster-celery: `dagster-celery/queue` (op), `dagster-celery/priority` (op) and
    `dagster-celery/run_priority` (job); higher is more urgent on every broker.
    """
    config = dict(init_context.executor_config)
    settings = settings_from_config(config)
    extras = None
    if settings.step_mode.value == "k8s_job":
        from dagster_ext.celery.run_worker.k8s_messages import k8s_message_extras

        extras = k8s_message_extras(config)
    handler = CeleryStepHandler(
        settings, app_factory=lambda: make_celery_app(settings), message_extras=extras
    )
    return CeleryQueueExecutor(
        handler,
        retries=RetryMode.from_config(config["retries"]),  # type: ignore[arg-type]
        sleep_seconds=settings.event_poll_s,
        check_step_health_interval_seconds=HEALTH_CHECK_INTERVAL_S,
        should_verify_step=False,  # the step claim is what prevents a second run
    )
