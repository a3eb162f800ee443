"""`CeleryStepHandler`: the run worker's side. Ready steps become Celery tasks; health comes from
the claim store; a step whose worker died, or whose message was lost before any worker claimed it,
is dispatched again; terminate cancels the run's steps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from celery import Celery
from dagster import MetadataValue

from dagster_ext.celery.claims import ClaimBackend, ClaimStatus, StepAttempt, open_claim_store
from dagster_ext.celery.conf import TASK_NAME
from dagster_ext.celery.messages import MessageExtras, StepMessage
from dagster_ext.celery.priorities import broker_priority
from dagster_ext.celery.run_worker.lost_messages import UNCLAIMED_GRACE_S, idle_worker_for
from dagster_ext.celery.run_worker.routing import step_queue, step_urgency
from dagster_ext.celery.settings import QueueSettings
from dagster_ext.dagster_compat.runs import DagsterEvent, EngineEventData
from dagster_ext.dagster_compat.step_delegating import (
    CheckStepHealthResult,
    StepHandler,
    StepHandlerContext,
)

log = logging.getLogger(__name__)
# Step statuses read in one batch serve the rest of that health round (Dagster's interval: 1 s).
STATUS_MAX_AGE_S = 0.5


@dataclass
class _Dispatched:
    message: StepMessage
    queue: str
    priority: int | None
    redispatched_for_claims: int = -1  # the claim count we already re-dispatched after
    queued_at: float = 0.0  # epoch seconds of the last publish
    lost: int = 0  # re-dispatches after a lost worker (limited by max_lost_redispatches)
    unclaimed: int = 0  # re-dispatches of a message nobody claimed (unlimited, backing off)


class CeleryStepHandler(StepHandler):
    def __init__(
        self,
        settings: QueueSettings,
        *,
        app_factory: Callable[[], Celery],
        store: ClaimBackend | None = None,
        message_extras: MessageExtras | None = None,
    ) -> None:
        super().__init__()
        self._settings = settings
        self._app_factory = app_factory
        self._app: Celery | None = None
        self._store = store
        self._extras = message_extras
        self._dispatched: dict[str, _Dispatched] = {}
        self._canceled_runs: set[str] = set()
        self._workers: tuple[float, list[dict[str, Any]]] = (0.0, [])
        self._statuses: dict[str, ClaimStatus] = {}
        self._statuses_read_at = 0.0
        self._done: set[str] = set()

    @property
    def name(self) -> str:
        return "dagster_ext.CeleryStepHandler"

    @property
    def app(self) -> Celery:
        if self._app is None:
            self._app = self._app_factory()
        return self._app

    @property
    def store(self) -> ClaimBackend:
        if self._store is None:
            self._store = open_claim_store(self._settings.claims_url)
        return self._store

    @staticmethod
    def _step(ctx: StepHandlerContext) -> StepAttempt:
        args = ctx.execute_step_args
        keys = args.step_keys_to_execute or []
        assert len(keys) == 1, "the Celery-queue executor sends one step per task"
        known = args.known_state
        attempt = known.get_retry_state().get_attempt_count(keys[0]) if known else 0
        return StepAttempt(args.run_id, str(keys[0]), attempt)

    # -- launching -----------------------------------------------------------------------------
    def launch_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        ctx = step_handler_context
        step = self._step(ctx)
        tags = ctx.step_tags[step.step_key]
        queue = step_queue(step_tags=tags, default_queue=self._settings.default_queue)
        urgency = step_urgency(step_tags=tags, run_tags=ctx.dagster_run.tags, step_key=step.step_key)
        priority = broker_priority(urgency, self._settings.broker_kind)
        extras = self._extras(ctx, step.step_key) if self._extras else {}
        message = StepMessage(
            run_id=step.run_id,
            step_key=step.step_key,
            attempt=step.attempt,
            step_args=StepMessage.pack(ctx.execute_step_args),
            claims_url=self._settings.claims_url,
            lease_s=self._settings.lease_s,
            step_mode=self._settings.step_mode.value,
            **extras,
        )
        yield DagsterEvent.step_worker_starting(
            ctx.get_step_context(step.step_key),
            message=f'Queued step "{step.step_key}" on Celery queue "{queue}" (urgency {urgency}).',
            metadata={
                "Celery queue": MetadataValue.text(queue),
                "Celery task id": MetadataValue.text(message.task_id),
                "urgency": MetadataValue.int(urgency),
            },
        )
        self._dispatched[step.ident] = _Dispatched(message, queue, priority, queued_at=time.time())
        self._publish(message, queue, priority)

    def _publish(self, message: StepMessage, queue: str, priority: int | None) -> None:
        options: dict[str, Any] = {"queue": queue, "task_id": message.task_id}
        if priority is not None:
            options["priority"] = priority
        self.app.send_task(TASK_NAME, kwargs=message.to_payload(), **options)
        self.store.record(message.run_id, "dispatched", step_key=message.step_key, attempt=message.attempt,
                          dispatch=message.dispatch, queue=queue, priority=priority)  # fmt: skip

    # -- health --------------------------------------------------------------------------------
    def check_step_health(self, step_handler_context: StepHandlerContext) -> CheckStepHealthResult:
        step = self._step(step_handler_context)
        status = self._status(step)
        if status.state == "done":
            return self._health_of_done(status)
        if status.state == "running" and status.lease_alive:
            return CheckStepHealthResult.healthy()
        sent = self._dispatched.get(step.ident)
        if status.state == "running" and (sent is None or sent.redispatched_for_claims != status.claims):
            return self._handle_lost(step_handler_context, step, status, sent)
        # Our last message for the step is not claimed yet (first dispatch, or the one after a loss).
        return self._health_of_unclaimed(step_handler_context, step, sent)

    def _status(self, step: StepAttempt) -> ClaimStatus:
        """Dagster checks every step in flight once a second, one call each: the first call of a
        round reads all of them in one round trip (a fan-out of 200 steps was 200 round trips)."""
        now = time.monotonic()
        if now - self._statuses_read_at >= STATUS_MAX_AGE_S or step.ident not in self._statuses:
            wanted = {ident for ident in self._dispatched if ident not in self._done} | {step.ident}
            read = self.store.statuses([StepAttempt.parse(ident) for ident in sorted(wanted)])
            self._statuses = {s.step.ident: s for s in read}
            self._done |= {s.step.ident for s in read if s.state == "done"}
            self._statuses_read_at = now
        return self._statuses[step.ident]

    def _live_workers(self) -> list[dict[str, Any]]:
        """The workers' heartbeats, read at most once a second whatever the number of queued steps."""
        read_at, workers = self._workers
        if time.monotonic() - read_at >= 1.0:
            workers = self.store.workers()
            self._workers = (time.monotonic(), workers)
        return workers

    def _health_of_unclaimed(
        self, ctx: StepHandlerContext, step: StepAttempt, sent: _Dispatched | None
    ) -> CheckStepHealthResult:
        if sent is None:
            return CheckStepHealthResult.healthy()  # resumed run: its message is not ours to judge
        # Each further re-dispatch waits twice as long: a wrong guess (a worker that looks idle but
        # does not consume, e.g. after `celery control cancel_consumer`) only adds a few duplicates.
        grace = UNCLAIMED_GRACE_S * 2 ** min(sent.unclaimed, 8)
        idle = idle_worker_for(sent.queue, sent.queued_at, self._live_workers(), grace_s=grace)
        if idle is None:
            return CheckStepHealthResult.healthy()  # waiting for a slot
        reason = (
            f'no worker claimed the step although worker {idle} of queue "{sent.queue}" had room for it '
            f"for {grace:.0f}s (its message was lost, e.g. in a broker reconnect)"
        )
        if self._redispatch(ctx, step, sent, reason, event="unclaimed", worker=idle):
            sent.unclaimed += 1
        return CheckStepHealthResult.healthy()  # never fails the step: duplicates are harmless

    @staticmethod
    def _health_of_done(status: ClaimStatus) -> CheckStepHealthResult:
        if status.outcome == "error":
            return CheckStepHealthResult.unhealthy(f"Celery worker {status.worker}: {status.error}")
        return CheckStepHealthResult.healthy()  # its events are in (or on their way to) the event log

    def _handle_lost(
        self, ctx: StepHandlerContext, step: StepAttempt, status: ClaimStatus, sent: _Dispatched | None
    ) -> CheckStepHealthResult:
        reason = f"Celery worker {status.worker} stopped renewing its claim on the step (worker lost)"
        if sent is None:  # resumed run: we did not send it; let Dagster's retry policy decide
            return CheckStepHealthResult.unhealthy(reason)
        if sent.lost >= self._settings.max_redispatches:
            return CheckStepHealthResult.unhealthy(
                f"{reason}; gave up after {sent.lost} re-dispatches (max_lost_redispatches)"
            )
        if self._redispatch(ctx, step, sent, reason, event="lost", worker=status.worker):
            sent.redispatched_for_claims = status.claims
            sent.lost += 1
        return CheckStepHealthResult.healthy()

    def _redispatch(
        self, ctx: StepHandlerContext, step: StepAttempt, sent: _Dispatched, reason: str, *, event: str,
        worker: str | None,
    ) -> bool:  # fmt: skip
        """Publish the step again under the next task id; False (tried again on a later check) when
        the broker or the claim store cannot be reached right now."""
        message = replace(sent.message, dispatch=sent.message.dispatch + 1)
        try:
            self.store.record(step.run_id, event, step_key=step.step_key, attempt=step.attempt, worker=worker)
            self._publish(message, sent.queue, sent.priority)
        except Exception:
            log.warning("could not dispatch %s again; trying on the next check", step.ident, exc_info=True)
            return False
        sent.message, sent.queued_at = message, time.time()
        DagsterEvent.engine_event(
            ctx.get_step_context(step.step_key),
            f"{reason}; dispatched it again (dispatch {message.dispatch}); the claim makes it run once.",
            EngineEventData(),
        )
        return True

    # -- termination ---------------------------------------------------------------------------
    def terminate_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        ctx = step_handler_context
        step = self._step(ctx)
        if step.run_id not in self._canceled_runs:
            self._canceled_runs.add(step.run_id)
            self.store.cancel_run(step.run_id)  # no queued task of the run claims after this
        sent = self._dispatched.get(step.ident)
        task_ids = [f"{sent.message.task_id[: sent.message.task_id.rfind(':')]}:{n}"
                    for n in range(sent.message.dispatch + 1)] if sent else []  # fmt: skip
        if task_ids:
            try:
                self.app.control.revoke(task_ids)
            except Exception:  # best effort: the cancel flag is what guarantees it
                log.warning("could not broadcast revoke for %s", task_ids, exc_info=True)
        on_terminate = getattr(self._extras, "on_terminate", None)  # k8s_job mode: delete the step K8s Job
        if sent is not None and on_terminate is not None:
            on_terminate(sent.message)
        yield DagsterEvent.engine_event(
            ctx.get_step_context(step.step_key),
            f'Terminating step "{step.step_key}": queued tasks are dropped, a running one is interrupted.',
            EngineEventData(),
        )

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
