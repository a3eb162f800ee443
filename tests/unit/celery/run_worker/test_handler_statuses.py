"""The run worker's health round: one batched claim-store read serves every step checked in it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dagster_ext.celery.app import make_celery_app
from dagster_ext.celery.claims import ClaimStatus, StepAttempt
from dagster_ext.celery.run_worker.handler import CeleryStepHandler
from dagster_ext.celery.settings import settings_from_config

STEPS = [StepAttempt("run-1", key, 0) for key in ("a", "b", "c")]


class CountingStore:
    def __init__(self) -> None:
        self.reads: list[list[str]] = []
        self.done: set[str] = set()

    def statuses(self, steps: Sequence[StepAttempt]) -> list[ClaimStatus]:
        self.reads.append([s.step_key for s in steps])
        return [
            ClaimStatus(s, "done" if s.ident in self.done else "running", lease_alive=True) for s in steps
        ]


def make_handler(store: Any, tmp_path: Any) -> CeleryStepHandler:
    settings = settings_from_config({"embedded_dir": str(tmp_path)}, environ={})
    handler = CeleryStepHandler(settings, app_factory=lambda: make_celery_app(settings), store=store)
    for step in STEPS:
        handler._dispatched[step.ident] = object()  # type: ignore[assignment]  # only the keys are read
    return handler


def test_one_read_per_round_for_all_steps_in_flight_and_none_for_finished_ones(tmp_path: Any) -> None:
    store = CountingStore()
    handler = make_handler(store, tmp_path)
    assert [handler._status(step).state for step in STEPS] == ["running"] * 3
    assert store.reads == [["a", "b", "c"]]  # one round trip for the round, not three
    store.done.add(STEPS[1].ident)
    handler._statuses_read_at -= 1.0  # the next round
    assert handler._status(STEPS[1]).state == "done"
    handler._statuses_read_at -= 1.0
    handler._status(STEPS[0])
    assert store.reads[1:] == [["a", "b", "c"], ["a", "c"]]  # a finished step is not read again
