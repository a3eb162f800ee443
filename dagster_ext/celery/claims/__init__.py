"""Step claims: the model and the three store roles (`model`), two backends (`redis_store`,
`sqlite_store`), the lease a worker holds while a step runs (`leasing`), and here the factory that
picks a backend by URL.

The backends import only `model`; this package imports them lazily, by URL, so there is no cycle
and a worker on SQLite never imports redis.
"""

from __future__ import annotations

import os
import threading

from dagster_ext.celery.claims.model import (
    RETENTION_S,
    ClaimBackend,
    ClaimHandedOver,
    ClaimResult,
    ClaimStatus,
    ClaimStore,
    ClaimStoreError,
    Outcome,
    RunId,
    RunLog,
    StepAttempt,
    WorkerDirectory,
    log_entry,
)

__all__ = [
    "RETENTION_S",
    "ClaimBackend",
    "ClaimHandedOver",
    "ClaimResult",
    "ClaimStatus",
    "ClaimStore",
    "ClaimStoreError",
    "Outcome",
    "RunId",
    "RunLog",
    "StepAttempt",
    "WorkerDirectory",
    "log_entry",
    "open_claim_store",
]

_stores: dict[tuple[int, str], ClaimBackend] = {}
_stores_lock = threading.Lock()


def open_claim_store(url: str) -> ClaimBackend:
    """One store per process and URL (re-created after fork: connections never cross it)."""
    key = (os.getpid(), url)
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _make_store(url)
            _stores[key] = store
        return store


def _make_store(url: str) -> ClaimBackend:
    if url.startswith(("redis://", "rediss://", "unix://")):
        from dagster_ext.celery.claims.redis_store import RedisClaimStore

        return RedisClaimStore(url)
    if url.startswith("sqlite:///"):
        from dagster_ext.celery.claims.sqlite_store import SqliteClaimStore

        return SqliteClaimStore(url.removeprefix("sqlite:///"))
    # never echo the URL: it may hold a password
    raise ClaimStoreError("claims_url: unsupported URL; use redis://host:port/db or sqlite:///absolute/path")
