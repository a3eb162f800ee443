"""The warm worker's per-run cache builds the same plans as Dagster, and never pairs a run's resolved
config with another job definition (a reloaded code location)."""

from __future__ import annotations

from dagster import Field, In, Nothing, job, op
from dagster._core.execution.api import create_execution_plan
from dagster._core.execution.plan.state import KnownExecutionState

from dagster_ext.celery.worker.run_cache import RunCache


@op(config_schema={"n": Field(int)})
def first(context) -> int:  # type: ignore[no-untyped-def]  # Dagster rejects a string annotation
    return int(context.op_config["n"])


@op(ins={"after": In(Nothing)})
def second() -> None:
    pass


def _job():  # type: ignore[no-untyped-def]
    @job
    def two_steps() -> None:
        second(after=first())

    return two_steps


RUN_CONFIG = {"ops": {"first": {"config": {"n": 3}}}}


def test_plan_matches_dagsters_for_each_step() -> None:
    job_def, cache = _job(), RunCache()
    for key in ("first", "second"):
        ours = cache.execution_plan_for(job_def, "run-1", RUN_CONFIG, step_keys=[key], known_state=None)
        theirs = create_execution_plan(job_def, RUN_CONFIG, step_keys_to_execute=[key])
        assert ours.step_keys_to_execute == theirs.step_keys_to_execute == [key]
        assert [s.key for s in ours.get_all_steps_in_topo_order()] == [
            s.key for s in theirs.get_all_steps_in_topo_order()
        ]
    assert cache.hits == 1  # the second step reused the run's resolved config


def test_known_state_reaches_the_plan() -> None:
    job_def, cache = _job(), RunCache()
    known = KnownExecutionState(previous_retry_attempts={"second": 2})
    plan = cache.execution_plan_for(job_def, "run-1", RUN_CONFIG, step_keys=["second"], known_state=known)
    assert plan.known_state.get_retry_state().get_attempt_count("second") == 2


def test_reloaded_job_definition_is_resolved_again() -> None:
    cache = RunCache()
    old, new = _job(), _job()
    first_config = cache.resolved_run_config("run-1", old, RUN_CONFIG)
    assert cache.resolved_run_config("run-1", old, RUN_CONFIG) is first_config
    assert cache.resolved_run_config("run-1", new, RUN_CONFIG) is not first_config
    assert cache.resolved_run_config("run-2", new, RUN_CONFIG) is not first_config
