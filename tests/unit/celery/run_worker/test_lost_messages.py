"""The lost-message rule: a step nobody claimed while a worker of its queue had a free slot."""

from __future__ import annotations

from typing import Any

from dagster_ext.celery.run_worker.lost_messages import UNCLAIMED_GRACE_S, idle_worker_for

QUEUED_AT = 1000.0


def beat(
    name: str, *, idle_since: float | None, sampled_at: float, queues: tuple[str, ...] = ("dagster",)
) -> dict[str, Any]:
    return {"name": name, "queues": list(queues), "idle_since": idle_since, "sampled_at": sampled_at}


def test_a_worker_idle_long_enough_after_the_step_was_queued_means_the_message_is_lost() -> None:
    workers = [beat("w1", idle_since=QUEUED_AT - 50, sampled_at=QUEUED_AT + UNCLAIMED_GRACE_S)]
    assert idle_worker_for("dagster", QUEUED_AT, workers) == "w1"


def test_idle_only_before_the_step_was_queued_does_not_count() -> None:
    # Idle for a minute, but only a second of it after the publish: the next poll may still take it.
    workers = [beat("w1", idle_since=QUEUED_AT - 60, sampled_at=QUEUED_AT + 1)]
    assert idle_worker_for("dagster", QUEUED_AT, workers) is None


def test_a_full_worker_or_one_that_just_freed_a_slot_means_the_step_is_waiting() -> None:
    workers = [
        beat("full", idle_since=None, sampled_at=QUEUED_AT + 60),
        beat("just_freed", idle_since=QUEUED_AT + 58, sampled_at=QUEUED_AT + 60),
    ]
    assert idle_worker_for("dagster", QUEUED_AT, workers) is None


def test_only_workers_of_the_steps_queue_count() -> None:
    workers = [
        beat("other", idle_since=QUEUED_AT, sampled_at=QUEUED_AT + 60, queues=("b",)),
        beat("ours", idle_since=QUEUED_AT + 1, sampled_at=QUEUED_AT + 60, queues=("b", "dagster")),
    ]
    assert idle_worker_for("dagster", QUEUED_AT, workers) == "ours"
    assert idle_worker_for("c", QUEUED_AT, workers) is None


def test_heartbeats_from_workers_without_the_sample_are_ignored() -> None:
    assert idle_worker_for("dagster", QUEUED_AT, [{"name": "old", "queues": ["dagster"]}]) is None
