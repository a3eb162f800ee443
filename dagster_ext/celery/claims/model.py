"""Step claims: at most one execution per (run id, step key, attempt), whatever the broker does.

A worker must win the claim before it runs a step. The claim is a lease the worker renews while the
step runs; when the worker dies the lease lapses, the run worker's health check sees a step that was
claimed, is not done and has no live lease, and dispatches it again. A duplicate message (broker
redelivery, our own re-dispatch) finds the claim held or done and is dropped. Every transition is
appended to a per-run claim log (what `dagster-ext celery status` and the tests read).

Two backends implement `ClaimBackend` (`ClaimStore`, `RunLog` and `WorkerDirectory`): Redis
(production) and SQLite (the embedded default, one host). The factory is in the package.
"""

from __future__ import annotations

import enum
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NewType, Protocol

from dagster_ext.errors import DagsterExtError

RunId = NewType("RunId", str)
RETENTION_S = 7 * 24 * 3600


class ClaimStoreError(DagsterExtError):
    """The claim store is unreachable or misconfigured."""


class ClaimHandedOver(DagsterExtError):
    """The holder stops without finishing the claim: the step goes on elsewhere (its K8s Job), and
    the worker that claims the re-dispatched step adopts it. Finishing would drop that re-dispatch."""


@dataclass(frozen=True)
class StepAttempt:
    run_id: str
    step_key: str
    attempt: int

    @property
    def ident(self) -> str:
        return f"{self.run_id}|{self.step_key}|{self.attempt}"

    @staticmethod
    def parse(ident: str) -> StepAttempt:
        run_id, step_key, attempt = ident.rsplit("|", 2)
        return StepAttempt(run_id, step_key, int(attempt))


class ClaimResult(enum.Enum):
    CLAIMED = "claimed"
    HELD = "held"  # another live holder runs it
    DONE = "done"  # it already ran
    CANCELED = "canceled"  # its run is being terminated


class Outcome(enum.Enum):
    OK = "ok"  # the step body returned (success or failure is in the event log)
    ERROR = "error"  # the task failed outside the step: the message says why
    CANCELED = "canceled"
    SKIPPED = "skipped"  # the run was already finished or canceling


@dataclass(frozen=True)
class ClaimStatus:
    step: StepAttempt
    state: str | None  # None (never claimed), "running", "done"
    lease_alive: bool
    claims: int = 0
    worker: str | None = None
    outcome: str | None = None
    error: str | None = None
    claimed_at: float | None = None


class ClaimStore(Protocol):
    """Claims and their leases, and the run-wide cancel flag a claim must respect."""

    def claim(self, step: StepAttempt, *, holder: str, worker: str, lease_s: float) -> ClaimResult: ...
    def renew(self, step: StepAttempt, *, holder: str, lease_s: float) -> bool: ...
    def finish(
        self, step: StepAttempt, *, holder: str, outcome: Outcome, error: str | None = None
    ) -> None: ...
    def status(self, step: StepAttempt) -> ClaimStatus: ...
    def statuses(self, steps: Sequence[StepAttempt]) -> list[ClaimStatus]:
        """`status` of each, in one round trip where the store allows it."""
        ...

    def running(self) -> list[ClaimStatus]: ...
    def cancel_run(self, run_id: str) -> None: ...
    def is_canceled(self, run_id: str) -> bool: ...


class RunLog(Protocol):
    """The per-run claim log, and the wake-up the run worker waits on when a step ends."""

    def record(self, run_id: str, event: str, **fields: Any) -> None: ...
    def claim_log(self, run_id: str) -> list[dict[str, Any]]: ...
    def wait_for_step_end(self, run_id: str, timeout_s: float) -> bool:
        """Block until a step of the run finishes (True) or `timeout_s` passes (False)."""
        ...


class WorkerDirectory(Protocol):
    """The live workers: their heartbeats (queues, slots, since when one was free)."""

    def heartbeat_worker(self, name: str, info: dict[str, Any], ttl_s: float) -> None: ...
    def forget_worker(self, name: str) -> None: ...
    def workers(self) -> list[dict[str, Any]]: ...


class ClaimBackend(ClaimStore, RunLog, WorkerDirectory, Protocol):
    """What a backend (Redis, SQLite) implements: one store for all three, so a claim, its log line
    and its wake-up are written together."""


def log_entry(event: str, **fields: Any) -> str:
    """One claim log line; `pid` names the slot process, so gaps between a slot's steps can be read."""
    return json.dumps({"event": event, "at": time.time(), "pid": os.getpid(), **fields})
