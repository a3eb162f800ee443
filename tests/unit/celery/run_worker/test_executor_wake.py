"""The run worker's loop: it waits on the claim store inside the event read and then skips Dagster's
sleep; without a read it sleeps; an unreachable claim store falls back to polling."""

from __future__ import annotations

from typing import Any

import pytest
from dagster import DagsterInstance
from dagster._core.execution.retries import RetryMode

from dagster_ext.celery.app import make_celery_app
from dagster_ext.celery.run_worker.executor import CeleryQueueExecutor
from dagster_ext.celery.run_worker.handler import CeleryStepHandler
from dagster_ext.celery.settings import settings_from_config

POLL_S = 0.05


class WakeStore:
    def __init__(self, *, fail: bool = False) -> None:
        self.waits: list[tuple[str, float]] = []
        self.fail = fail

    def wait_for_step_end(self, run_id: str, timeout_s: float) -> bool:
        self.waits.append((run_id, timeout_s))
        if self.fail:
            raise ConnectionError("claim store down")
        return True


def make_executor(store: Any, tmp_path: Any) -> CeleryQueueExecutor:
    settings = settings_from_config({"embedded_dir": str(tmp_path)}, environ={})
    handler = CeleryStepHandler(settings, app_factory=lambda: make_celery_app(settings), store=store)
    return CeleryQueueExecutor(handler, retries=RetryMode.DISABLED, sleep_seconds=POLL_S)


@pytest.mark.parametrize("fail", [False, True])
def test_a_read_waits_on_the_claim_store_and_replaces_the_next_sleep(tmp_path: Any, fail: bool) -> None:
    store = WakeStore(fail=fail)
    executor = make_executor(store, tmp_path)
    assert executor._sleep_seconds == POLL_S  # no read this iteration: Dagster's sleep stays
    with DagsterInstance.ephemeral() as instance:
        assert list(executor._pop_events(instance, "run-1", set())) == []
    assert store.waits == [("run-1", POLL_S)]
    assert executor._sleep_seconds == 0.0  # it already waited (or slept, when the store failed)
    assert executor._sleep_seconds == POLL_S  # only once
