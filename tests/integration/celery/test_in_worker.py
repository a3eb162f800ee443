"""In-worker mode end to end: real Redis or the embedded filesystem queue, real worker processes."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.celery.harness import CeleryHarness, iter_events, max_overlap

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]


@pytest.mark.timeout(120)
def test_process_numbers_on_redis(celery_harness: Callable[..., CeleryHarness], redis: Any) -> None:
    h = celery_harness({"broker": redis.url, "backend": redis.url})
    h.start_worker("w1", slots=2)
    h.wait_workers_ready()
    result = h.start_run("process_numbers").result(timeout_s=90)
    assert result["success"] and result["result"] == 55
    log = h.store.claim_log(result["run_id"])
    claimed = Counter(e["step_key"] for e in log if e["event"] == "claimed")
    assert claimed == {k: 1 for k in ("generate_numbers", "filter_even_numbers", "filter_odd_numbers",
                                       "sum_even_numbers", "sum_odd_numbers", "sum_two_sums")}  # fmt: skip


@pytest.mark.timeout(120)
def test_embedded_default_needs_no_server(celery_harness: Callable[..., CeleryHarness]) -> None:
    """No broker configured, SQLite instance: the only processes are the worker and the run."""
    h = celery_harness({}, sqlite=True)
    assert h.settings.broker_url == "filesystem://" and h.settings.claims_url.startswith("sqlite:///")
    h.start_worker("w1", slots=2)
    h.wait_workers_ready()
    result = h.start_run("process_numbers").result(timeout_s=90)
    assert result["success"] and result["result"] == 55
    assert {e["event"] for e in h.store.claim_log(result["run_id"])} >= {"dispatched", "claimed", "finished"}


@pytest.mark.timeout(240)
def test_cap_holds_across_three_runs(celery_harness: Callable[..., CeleryHarness], redis: Any) -> None:
    """3 runs x 30 steps against 2 workers x 2 slots: never more than 4 steps at once."""
    h = celery_harness({"broker": redis.url})
    h.env["DX_STEP_SLEEP"] = "0.3"
    h.start_worker("w1", slots=2)
    h.start_worker("w2", slots=2)
    h.wait_workers_ready()
    runs = [h.start_run("fan_out") for _ in range(3)]
    results = [run.result(timeout_s=220) for run in runs]
    assert all(r["success"] for r in results), results
    trace = h.trace()
    ends = Counter((e["run_id"], e["step"]) for e in iter_events(trace, "end"))
    assert len(ends) == 90 and set(ends.values()) == {1}
    peak = max_overlap(trace)
    assert 2 <= peak <= 4, f"peak concurrency {peak}"
    assert {e["worker"] for e in trace} == {"w1", "w2"}


@pytest.mark.timeout(120)
def test_queue_tag_routes_to_its_worker(celery_harness: Callable[..., CeleryHarness], redis: Any) -> None:
    h = celery_harness({"broker": redis.url})
    h.start_worker("wa", queues=("dagster",), slots=1)
    h.start_worker("wb", queues=("b",), slots=1)
    h.wait_workers_ready()
    for _ in range(2):
        assert h.start_run("routed").result(timeout_s=90)["success"]
    where = {(e["step"], e["worker"]) for e in iter_events(h.trace(), "start")}
    assert where == {("on_default", "wa"), ("on_b", "wb")}


def _wait_depth(h: CeleryHarness, queue: str, depth: int, timeout_s: float) -> None:
    from dagster_ext.celery.inspecting import redis_depths

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if redis_depths(h.settings.broker_url, [queue]).get(queue, 0) >= depth:
            return
        time.sleep(0.1)
    raise AssertionError(f"queue {queue} never reached depth {depth}")


@pytest.mark.timeout(180)
def test_priority_order_with_one_slot_on_redis(
    celery_harness: Callable[..., CeleryHarness], redis: Any
) -> None:
    """A priority-9 step queued after three priority-1 steps runs before them."""
    h = celery_harness({"broker": redis.url})
    h.env["DX_BLOCK_S"] = "25"
    h.start_worker("w1", slots=1)
    h.wait_workers_ready()
    blocker = h.start_run("prio_blocker")
    h.wait_trace(lambda e: e["step"] == "blocker" and e["event"] == "start", timeout_s=60)
    low = h.start_run("prio_low")
    _wait_depth(h, "dagster", 3, timeout_s=60)
    high = h.start_run("prio_high")
    _wait_depth(h, "dagster", 4, timeout_s=60)
    all_queued_at = time.time()
    assert all(r.result(timeout_s=120)["success"] for r in (blocker, low, high))
    trace = h.trace()
    (blocker_end,) = [e["t"] for e in iter_events(trace, "end") if e["step"] == "blocker"]
    assert blocker_end > all_queued_at, "inconclusive: the blocker ended before every step was queued"
    order = [e["step"] for e in sorted(iter_events(trace, "start"), key=lambda e: e["t"])]
    assert order[0] == "blocker" and order[1] == "high", order
    assert sorted(order[2:]) == ["low_0", "low_1", "low_2"]
