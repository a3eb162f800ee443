"""What the long-lived processes of the Celery-queue executor keep between steps: open database
connections, and the answers to schema checks that cannot turn false again."""

from __future__ import annotations

from collections.abc import Callable

from dagster import DagsterInstance

POOL_RECYCLE_S = 3600
POOL_MAX_OVERFLOW = 8  # threads writing events at once beyond the one pooled connection
# Dagster's run storage answers these by reflecting the database schema (a catalogue query) on every
# call; `has_run_stats_index_cols` runs inside every `get_run_by_id`, so once per step in a worker.
# Each asks whether a migration has added something; migrations only ever add.
SCHEMA_CHECKS = (
    "has_run_stats_index_cols",
    "has_backfill_id_column",
    "has_bulk_actions_selector_cols",
    "has_bulk_action_job_name_column",
    "has_backfill_tags_table",
)


def hold_connections(instance: DagsterInstance) -> None:
    """Keep a few database connections open in this long-lived process, and stop re-reading the
    schema for checks already answered yes.

    Dagster's PostgreSQL storages open a new connection for every query and event write (NullPool),
    so that short-lived processes hold none; a step writes about ten events, and each new connection
    costs PostgreSQL a backend process. The profile of a warm worker showed connecting as a fifth of
    a no-op step's time. This is what dagster-webserver does for its own long-lived process: a pool
    of one connection plus overflow, recycled hourly; no statement timeout (0), as a step's writes
    must not be cut short. No-op for SQLite storage.
    """
    instance.optimize_for_webserver(
        statement_timeout=0, pool_recycle=POOL_RECYCLE_S, max_overflow=POOL_MAX_OVERFLOW
    )
    remember_schema_checks(instance.run_storage)


def remember_schema_checks(storage: object) -> None:
    """Answer `SCHEMA_CHECKS` from memory once the database has said yes.

    The run lookup at the start of each step spent a tenth of a warm no-op step's time in the
    schema reflection behind `has_run_stats_index_cols`. Only a yes is kept: a column or table that
    a migration added stays, while a no is asked again, so `dagster instance migrate` run against a
    live deployment is noticed without restarting its workers.
    """
    for name in SCHEMA_CHECKS:
        check = getattr(storage, name, None)
        if callable(check) and not getattr(check, "_dagster_ext_remembered", False):
            setattr(storage, name, _remember_yes(check))


def _remember_yes(check: Callable[[], bool]) -> Callable[[], bool]:
    known = False

    def remembered() -> bool:
        nonlocal known
        if known:
            return True
        answer = bool(check())
        known = answer  # two threads racing here both ask the database once; harmless
        return answer

    remembered._dagster_ext_remembered = True  # type: ignore[attr-defined]
    return remembered
