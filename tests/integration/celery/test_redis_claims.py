"""The Redis claim store against a real Redis: exclusive claims, lapsing leases, final done, cancel."""

from __future__ import annotations

import time
from typing import Any

import pytest

from dagster_ext.celery.claims import ClaimResult, Outcome, StepAttempt
from dagster_ext.celery.claims.redis_store import RedisClaimStore

pytestmark = [pytest.mark.redis]
STEP = StepAttempt("run-1", "a", 0)


@pytest.mark.timeout(30)
def test_claims_are_exclusive_leases_lapse_and_done_is_final(redis: Any) -> None:
    store = RedisClaimStore(redis.url)
    assert store.claim(STEP, holder="h1", worker="w1", lease_s=0.3) is ClaimResult.CLAIMED
    assert store.claim(STEP, holder="h2", worker="w2", lease_s=30) is ClaimResult.HELD
    time.sleep(0.4)
    assert not store.status(STEP).lease_alive and store.status(STEP).state == "running"
    assert not store.renew(STEP, holder="h1", lease_s=5)
    assert store.claim(STEP, holder="h2", worker="w2", lease_s=30) is ClaimResult.CLAIMED
    store.finish(STEP, holder="h1", outcome=Outcome.OK)  # the stale holder cannot finish it
    assert store.status(STEP).state == "running" and store.status(STEP).claims == 2
    assert [s.step for s in store.running()] == [STEP]
    store.finish(STEP, holder="h2", outcome=Outcome.OK)
    assert store.claim(STEP, holder="h3", worker="w3", lease_s=30) is ClaimResult.DONE
    assert store.running() == []
    events = [e["event"] for e in store.claim_log("run-1")]
    assert events == ["claimed", "claimed", "finished"]


@pytest.mark.timeout(30)
def test_cancel_blocks_claims_and_survives_a_restart(redis: Any) -> None:
    store = RedisClaimStore(redis.url)
    store.cancel_run("run-1")
    redis.restart()  # AOF: the flag is still there, and the client reconnects by itself
    assert store.claim(STEP, holder="h1", worker="w1", lease_s=30) is ClaimResult.CANCELED
    assert store.is_canceled("run-1") and not store.is_canceled("run-2")


@pytest.mark.timeout(30)
def test_finishing_a_step_wakes_the_run_worker_waiting_on_its_run(redis: Any) -> None:
    store = RedisClaimStore(redis.url)
    started = time.monotonic()
    assert not store.wait_for_step_end("run-1", 0.2)  # nothing finished: waits the whole timeout
    assert time.monotonic() - started >= 0.19
    for step in (STEP, StepAttempt("run-1", "b", 0)):
        assert store.claim(step, holder="h", worker="w", lease_s=30) is ClaimResult.CLAIMED
        store.finish(step, holder="h", outcome=Outcome.OK)
    store.finish(StepAttempt("run-2", "a", 0), holder="nobody", outcome=Outcome.OK)  # not its holder
    started = time.monotonic()
    assert store.wait_for_step_end("run-1", 5)
    assert time.monotonic() - started < 4  # woken, not timed out
    assert not store.wait_for_step_end("run-1", 0.1)  # one wake-up covers both steps
    assert not store.wait_for_step_end("run-2", 0.1)  # a refused finish wakes nobody


@pytest.mark.timeout(30)
def test_statuses_read_many_steps_as_status_reads_each(redis: Any) -> None:
    store = RedisClaimStore(redis.url)
    other, never = StepAttempt("run-1", "b", 0), StepAttempt("run-1", "c", 0)
    assert store.claim(STEP, holder="h", worker="w1", lease_s=30) is ClaimResult.CLAIMED
    assert store.claim(other, holder="h", worker="w2", lease_s=30) is ClaimResult.CLAIMED
    store.finish(other, holder="h", outcome=Outcome.ERROR, error="boom")
    batch = store.statuses([STEP, other, never])
    assert batch == [store.status(STEP), store.status(other), store.status(never)]
    assert [(s.state, s.lease_alive, s.error) for s in batch] == [
        ("running", True, None),
        ("done", False, "boom"),
        (None, False, None),
    ]
