"""The worker side: claim the step, hold the claim while it runs, record how it ended."""

from __future__ import annotations

import logging
import traceback
import uuid
from typing import Any

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

from dagster_ext.celery.claims import ClaimHandedOver, ClaimResult, Outcome, open_claim_store
from dagster_ext.celery.claims.leasing import holding_claim
from dagster_ext.celery.conf import TASK_NAME
from dagster_ext.celery.messages import StepMessage
from dagster_ext.dagster_compat.runs import DagsterExecutionInterruptedError

log = logging.getLogger(__name__)


def run_step_task(payload: dict[str, Any], *, worker: str, task_id: str | None) -> str:
    """Returns the claim result or outcome (for logs; results are not stored)."""
    message = StepMessage.from_payload(payload)
    store = open_claim_store(message.claims_url)
    holder = f"{task_id or message.task_id}/{uuid.uuid4().hex[:8]}"
    step = message.step
    result = store.claim(step, holder=holder, worker=worker, lease_s=message.lease_s)
    if result is not ClaimResult.CLAIMED:
        store.record(step.run_id, f"dropped_{result.value}", step_key=step.step_key, attempt=step.attempt,
                     worker=worker, task_id=task_id)  # fmt: skip
        log.info("step %s not run: %s", step.ident, result.value)
        return str(result.value)
    outcome, error, handed_over = Outcome.ERROR, None, False
    try:
        with holding_claim(store, step, holder=holder, lease_s=message.lease_s) as keeper:
            try:
                outcome = _execute(message, worker=worker, task_id=task_id)
            except (DagsterExecutionInterruptedError, KeyboardInterrupt):
                outcome, error = Outcome.CANCELED, keeper.interrupted_because or "interrupted"
    except ClaimHandedOver as err:
        handed_over = True
        store.record(step.run_id, "handed_over", step_key=step.step_key, attempt=step.attempt, worker=worker,
                     reason=str(err))  # fmt: skip
        log.warning("step %s handed over: %s", step.ident, err)
    except SoftTimeLimitExceeded:
        error = "the step exceeded step_time_limit_seconds and was stopped"
    except Exception as err:
        error = "".join(traceback.format_exception_only(type(err), err)).strip()
        log.exception("step %s failed in the worker", step.ident)
    finally:
        if not handed_over:
            store.finish(step, holder=holder, outcome=outcome, error=error)
    return "handed_over" if handed_over else str(outcome.value)


def _execute(message: StepMessage, *, worker: str, task_id: str | None) -> Outcome:
    if message.step_mode == "k8s_job":
        from dagster_ext.celery.worker.k8s_mode import execute_step_as_k8s_job

        return execute_step_as_k8s_job(message, worker=worker)
    from dagster_ext.celery.worker.running import execute_step_in_worker
    from dagster_ext.celery.worker.step_end_fetch import announce_step_end

    return execute_step_in_worker(
        message.execute_step_args(), worker=worker, on_step_end=lambda: announce_step_end(task_id)
    )


def register_tasks(app: Celery) -> None:
    from dagster_ext.celery.worker.deferred_ack import REQUEST_CLASS

    @app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True, Request=REQUEST_CLASS)
    def execute_step(self: Any, **payload: Any) -> str:
        return run_step_task(payload, worker=str(self.request.hostname), task_id=self.request.id)
