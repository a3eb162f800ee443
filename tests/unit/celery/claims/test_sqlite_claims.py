"""The SQLite claim store (the embedded default): claims are exclusive, leases lapse, done is final."""

from __future__ import annotations

import time
from pathlib import Path

from dagster_ext.celery.claims import ClaimResult, Outcome, StepAttempt
from dagster_ext.celery.claims.sqlite_store import SqliteClaimStore

STEP = StepAttempt("run-1", "a", 0)


def test_one_holder_at_a_time_and_done_is_final(tmp_path: Path) -> None:
    store = SqliteClaimStore(str(tmp_path / "c.sqlite"))
    assert store.claim(STEP, holder="h1", worker="w1", lease_s=30) is ClaimResult.CLAIMED
    assert store.claim(STEP, holder="h2", worker="w2", lease_s=30) is ClaimResult.HELD
    assert store.status(STEP).lease_alive and store.status(STEP).worker == "w1"
    store.finish(STEP, holder="h1", outcome=Outcome.OK)
    assert store.claim(STEP, holder="h3", worker="w3", lease_s=30) is ClaimResult.DONE
    events = [e["event"] for e in store.claim_log("run-1")]
    assert events == ["claimed", "finished"]


def test_lapsed_lease_can_be_taken_over_and_old_holder_cannot_finish(tmp_path: Path) -> None:
    store = SqliteClaimStore(str(tmp_path / "c.sqlite"))
    assert store.claim(STEP, holder="h1", worker="w1", lease_s=0.2) is ClaimResult.CLAIMED
    time.sleep(0.3)
    status = store.status(STEP)
    assert status.state == "running" and not status.lease_alive
    assert not store.renew(STEP, holder="h1", lease_s=5)
    assert store.claim(STEP, holder="h2", worker="w2", lease_s=30) is ClaimResult.CLAIMED
    assert store.status(STEP).claims == 2
    store.finish(STEP, holder="h1", outcome=Outcome.OK)  # stale holder: ignored
    assert store.status(STEP).state == "running"
    store.finish(STEP, holder="h2", outcome=Outcome.ERROR, error="boom")
    assert store.status(STEP).outcome == "error" and store.status(STEP).error == "boom"


def test_cancel_blocks_new_claims_and_running_lists_holders(tmp_path: Path) -> None:
    store = SqliteClaimStore(str(tmp_path / "c.sqlite"))
    store.claim(STEP, holder="h1", worker="w1", lease_s=30)
    assert [s.step for s in store.running()] == [STEP]
    store.cancel_run("run-1")
    assert store.is_canceled("run-1")
    other = StepAttempt("run-1", "b", 0)
    assert store.claim(other, holder="h2", worker="w1", lease_s=30) is ClaimResult.CANCELED
    store.heartbeat_worker("w1", {"queues": ["dagster"]}, ttl_s=30)
    assert [w["name"] for w in store.workers()] == ["w1"]
