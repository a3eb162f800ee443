"""The worker's idle clock: since when it has had room for one more message (what its heartbeat
publishes for the run worker's lost-message rule)."""

from __future__ import annotations

from dagster_ext.celery.worker.registry import IdleClock


def test_idle_clock_restarts_whenever_the_worker_is_full() -> None:
    clock = IdleClock(capacity=2)
    clock.sample(held=2, now=1.0)
    assert clock.idle_since is None
    clock.sample(held=1, now=2.0)
    clock.sample(held=0, now=3.0)
    assert clock.idle_since == 2.0  # free since the first sample with room, not the latest
    clock.sample(held=2, now=4.0)
    clock.sample(held=1, now=5.0)
    assert clock.idle_since == 5.0


def test_idle_clock_of_a_stopping_worker_never_reports_room() -> None:
    clock = IdleClock(capacity=2)
    clock.sample(held=0, now=1.0)
    clock.stopping = True
    clock.sample(held=0, now=2.0)
    assert clock.idle_since is None  # warm shutdown: no longer consuming
