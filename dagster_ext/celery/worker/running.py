"""Run one step inside the warm worker process: `dagster api execute_step`, without the process.

Events go straight to the instance's event storage (the run worker tails them); user code and the
instance come from the per-process `CODE_CACHE`, what the run's steps share from `RUN_CACHE`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import cast

from dagster import DagsterInstance, MetadataValue

from dagster_ext.celery.claims import Outcome
from dagster_ext.celery.worker.code_cache import CODE_CACHE
from dagster_ext.celery.worker.run_cache import RUN_CACHE
from dagster_ext.dagster_compat.definitions import (
    JobPythonOrigin,
    create_context_free_log_manager,
    execute_plan_iterator,
)
from dagster_ext.dagster_compat.runs import DagsterEvent, DagsterEventType, DagsterRun, DagsterRunStatus
from dagster_ext.dagster_compat.step_delegating import ExecuteStepArgs
from dagster_ext.errors import DagsterExtError

# A step's last event in this process: after it only the wind-down is left (see step_end_fetch).
STEP_END_EVENTS = frozenset(
    {
        DagsterEventType.STEP_SUCCESS,
        DagsterEventType.STEP_FAILURE,
        DagsterEventType.STEP_SKIPPED,
        DagsterEventType.STEP_UP_FOR_RETRY,
    }
)


class StepTaskError(DagsterExtError):
    """A step could not be started in the worker (run missing, code not loadable)."""


def run_to_execute(instance: DagsterInstance, run_id: str, step_key: str) -> DagsterRun | None:
    """The step's run, or None (reported as an engine event) when it is finished or canceling."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        raise StepTaskError(f"run {run_id} not found in the worker's Dagster instance")
    if run.is_finished or run.status == DagsterRunStatus.CANCELING:
        instance.report_engine_event(
            f"Not executing {step_key}: run is {run.status.value}", run, step_key=step_key
        )
        return None
    return run


def execute_step_in_worker(
    args: ExecuteStepArgs, *, worker: str, on_step_end: Callable[[], None] | None = None
) -> Outcome:
    """`on_step_end` is called once, right after the step's last event is written."""
    keys = list(args.step_keys_to_execute or [])
    if len(keys) != 1:
        raise StepTaskError(f"one step per task, got {keys}")
    step_key = keys[0]
    instance = CODE_CACHE.instance(args.instance_ref)  # type: ignore[arg-type]
    run = run_to_execute(instance, args.run_id, step_key)
    if run is None:
        return Outcome.SKIPPED
    location = run.remote_job_origin.location_name if run.remote_job_origin else None
    instance.inject_env_vars(location)
    DagsterEvent.step_worker_started(
        create_context_free_log_manager(instance, run),
        run.job_name,
        message=f'Step worker started for "{step_key}" in Celery worker {worker}.',
        metadata={"pid": MetadataValue.text(str(os.getpid())), "Celery worker": MetadataValue.text(worker)},
        step_key=step_key,
    )
    load_data = RUN_CACHE.repository_load_data(instance, run)
    recon_job = CODE_CACHE.recon_job(cast(JobPythonOrigin, run.job_code_origin), load_data).get_subset(
        op_selection=run.resolved_op_selection,
        asset_selection=run.asset_selection,
        asset_check_selection=run.asset_check_selection,
    )
    plan = RUN_CACHE.execution_plan(
        recon_job, run, step_keys=keys, known_state=args.known_state, load_data=load_data
    )
    ended = False
    for event in execute_plan_iterator(
        plan, recon_job, run, instance, run_config=run.run_config, retry_mode=args.retry_mode
    ):
        # The log manager already wrote each event to the instance.
        if not ended and on_step_end is not None and event.event_type in STEP_END_EVENTS:
            ended = True
            on_step_end()
    return Outcome.OK
