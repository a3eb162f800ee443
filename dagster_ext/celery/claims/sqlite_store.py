"""`ClaimStore` on one SQLite file: the embedded default (every process on one host).

Each operation is one `BEGIN IMMEDIATE` transaction, so claims are atomic across processes. Lease
expiry is a wall-clock deadline column (all processes share the host clock).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagster_ext.celery.claims.model import ClaimResult, ClaimStatus, Outcome, StepAttempt, log_entry

_SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
  ident TEXT PRIMARY KEY, run_id TEXT, step_key TEXT, attempt INTEGER, state TEXT, holder TEXT,
  worker TEXT, lease_until REAL, claims INTEGER DEFAULT 0, outcome TEXT, error TEXT, claimed_at REAL);
CREATE TABLE IF NOT EXISTS canceled (run_id TEXT PRIMARY KEY, at REAL);
CREATE TABLE IF NOT EXISTS claim_log (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, entry TEXT);
CREATE INDEX IF NOT EXISTS claim_log_run ON claim_log (run_id);
CREATE TABLE IF NOT EXISTS workers (name TEXT PRIMARY KEY, info TEXT, expires_at REAL);
"""


class SqliteClaimStore:
    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None  # opened on first use, not here
        self._lock = threading.Lock()  # the lease keeper thread shares the connection

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self._path, timeout=30, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
                self._conn = conn
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @staticmethod
    def _log(conn: sqlite3.Connection, run_id: str, event: str, **fields: Any) -> None:
        conn.execute(
            "INSERT INTO claim_log (run_id, entry) VALUES (?, ?)", (run_id, log_entry(event, **fields))
        )

    def claim(self, step: StepAttempt, *, holder: str, worker: str, lease_s: float) -> ClaimResult:
        now = time.time()
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM canceled WHERE run_id = ?", (step.run_id,)).fetchone():
                return ClaimResult.CANCELED
            row = conn.execute(
                "SELECT state, lease_until FROM claims WHERE ident = ?", (step.ident,)
            ).fetchone()
            if row and row[0] == "done":
                return ClaimResult.DONE
            if row and row[0] == "running" and row[1] > now:
                return ClaimResult.HELD
            conn.execute(
                "INSERT INTO claims (ident, run_id, step_key, attempt, state, holder, worker, lease_until,"
                " claims, claimed_at) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, 1, ?)"
                " ON CONFLICT(ident) DO UPDATE SET"
                " state='running', holder=excluded.holder, worker=excluded.worker,"
                " lease_until=excluded.lease_until, claims=claims+1, claimed_at=excluded.claimed_at",
                (step.ident, step.run_id, step.step_key, step.attempt, holder, worker, now + lease_s, now),
            )
            self._log(conn, step.run_id, "claimed", step_key=step.step_key, attempt=step.attempt,
                      worker=worker, holder=holder)  # fmt: skip
            return ClaimResult.CLAIMED

    def renew(self, step: StepAttempt, *, holder: str, lease_s: float) -> bool:
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE claims SET lease_until = ? WHERE ident = ? AND holder = ? AND state = 'running'"
                " AND lease_until > ?",
                (time.time() + lease_s, step.ident, holder, time.time()),
            )
            return cur.rowcount == 1

    def finish(self, step: StepAttempt, *, holder: str, outcome: Outcome, error: str | None = None) -> None:
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE claims SET state='done', outcome=?, error=?, lease_until=0"
                " WHERE ident=? AND holder=?",
                (outcome.value, error, step.ident, holder),
            )
            if cur.rowcount:
                self._log(conn, step.run_id, "finished", step_key=step.step_key, attempt=step.attempt,
                          holder=holder, outcome=outcome.value, error=error)  # fmt: skip

    def status(self, step: StepAttempt) -> ClaimStatus:
        with self._tx() as conn:
            row = conn.execute(
                "SELECT state, lease_until, claims, worker, outcome, error, claimed_at"
                " FROM claims WHERE ident=?",
                (step.ident,),
            ).fetchone()
        if row is None:
            return ClaimStatus(step=step, state=None, lease_alive=False)
        state, lease_until, claims, worker, outcome, error, claimed_at = row
        alive = state == "running" and lease_until > time.time()
        return ClaimStatus(step, state, alive, int(claims or 0), worker, outcome, error, claimed_at)

    def statuses(self, steps: Sequence[StepAttempt]) -> list[ClaimStatus]:
        return [self.status(step) for step in steps]  # local file: no round trip to save

    def cancel_run(self, run_id: str) -> None:
        with self._tx() as conn:
            conn.execute("INSERT OR IGNORE INTO canceled (run_id, at) VALUES (?, ?)", (run_id, time.time()))
            self._log(conn, run_id, "cancel_requested")

    def is_canceled(self, run_id: str) -> bool:
        with self._tx() as conn:
            return conn.execute("SELECT 1 FROM canceled WHERE run_id = ?", (run_id,)).fetchone() is not None

    def record(self, run_id: str, event: str, **fields: Any) -> None:
        with self._tx() as conn:
            self._log(conn, run_id, event, **fields)

    def claim_log(self, run_id: str) -> list[dict[str, Any]]:
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT entry FROM claim_log WHERE run_id = ? ORDER BY id", (run_id,)
            ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def running(self) -> list[ClaimStatus]:
        with self._tx() as conn:
            rows = conn.execute("SELECT ident FROM claims WHERE state = 'running' ORDER BY ident").fetchall()
        return [self.status(StepAttempt.parse(row[0])) for row in rows]

    def wait_for_step_end(self, run_id: str, timeout_s: float) -> bool:
        time.sleep(timeout_s)  # no blocking read in SQLite: the run worker polls, as before
        return False

    def heartbeat_worker(self, name: str, info: dict[str, Any], ttl_s: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO workers (name, info, expires_at) VALUES (?, ?, ?)",
                (name, json.dumps({**info, "name": name}), time.time() + ttl_s),
            )

    def forget_worker(self, name: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM workers WHERE name = ?", (name,))

    def workers(self) -> list[dict[str, Any]]:
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT info FROM workers WHERE expires_at > ? ORDER BY name", (time.time(),)
            ).fetchall()
        return [json.loads(row[0]) for row in rows]
