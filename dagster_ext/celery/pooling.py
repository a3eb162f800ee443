"""Database connections held open by the long-lived processes of the Celery-queue executor."""

from __future__ import annotations

from dagster import DagsterInstance

POOL_RECYCLE_S = 3600
POOL_MAX_OVERFLOW = 8  # threads writing events at once beyond the one pooled connection


def hold_connections(instance: DagsterInstance) -> None:
    """Keep a few database connections open in this long-lived process.

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
