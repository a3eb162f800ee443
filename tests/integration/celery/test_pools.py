"""Dagster pools across runs with the Celery-queue executor: the run worker claims the pool slot
before it sends the step to a queue, so with more worker slots than pool slots the pool is what
caps the steps, and the claim log never shows more steps of the pool held at once than its limit."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from dagster import DagsterInstance

from tests.integration.celery.harness import CeleryHarness, iter_events, max_overlap
from tests.integration.celery.jobs import POOL

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

LIMIT = 2
RUNS = 3


def enable_pools(h: CeleryHarness, *, limit: int) -> None:
    path = h.home / "dagster.yaml"
    config = yaml.safe_load(path.read_text())
    config["concurrency"] = {"pools": {"granularity": "op"}}
    path.write_text(yaml.safe_dump(config))
    with pool_instance(h) as instance:
        instance.event_log_storage.set_concurrency_slots(POOL, limit)


def pool_instance(h: CeleryHarness) -> DagsterInstance:
    if "DAGSTER_PG_PASSWORD" in h.env:
        os.environ["DAGSTER_PG_PASSWORD"] = h.env["DAGSTER_PG_PASSWORD"]
    return DagsterInstance.from_config(str(h.home))


def claim_log_overlap(h: CeleryHarness, run_ids: list[str]) -> int:
    """Most pooled steps between `claimed` and `finished` in the claim log at the same moment."""
    edges: list[tuple[float, int]] = []
    for run_id in run_ids:
        log = [e for e in h.store.claim_log(run_id) if str(e.get("step_key", "")).startswith("pooled_")]
        claimed = {e["step_key"]: e["at"] for e in log if e["event"] == "claimed"}
        for e in log:
            if e["event"] == "finished" and e["step_key"] in claimed:
                edges += [(claimed[e["step_key"]], 1), (e["at"], -1)]
    current = peak = 0
    for _, delta in sorted(edges):  # an end before a start at the same moment
        current += delta
        peak = max(peak, current)
    return peak


@pytest.mark.timeout(300)
def test_pool_limit_holds_across_runs(celery_harness: Callable[..., CeleryHarness], redis: Any) -> None:
    """3 runs x 4 pooled steps, 6 worker slots, a pool of 2: at most 2 pooled steps at once."""
    h = celery_harness({"broker": redis.url})
    h.env["DX_STEP_SLEEP"] = "1.5"
    enable_pools(h, limit=LIMIT)
    h.start_worker("w1", slots=3)
    h.start_worker("w2", slots=3)
    h.wait_workers_ready()
    runs = [h.start_run("pooled_fan_out") for _ in range(RUNS)]
    results = [run.result(timeout_s=280) for run in runs]
    assert all(r["success"] for r in results), results
    run_ids = [r["run_id"] for r in results]
    trace = [e for e in h.trace() if e["step"].startswith("pooled_")]
    assert len(list(iter_events(trace, "end"))) == 4 * RUNS
    assert 1 <= max_overlap(trace) <= LIMIT, max_overlap(trace)
    assert 1 <= claim_log_overlap(h, run_ids) <= LIMIT, claim_log_overlap(h, run_ids)
    with pool_instance(h) as instance:
        deadline = (
            time.monotonic() + 30
        )  # hang guard: slots are freed as each run worker reads the step's end
        while (info := instance.event_log_storage.get_concurrency_info(POOL)).claimed_slots:
            assert time.monotonic() < deadline, info
            time.sleep(0.25)
        assert not info.pending_steps
        blocked = [
            r.message
            for run_id in run_ids
            for r in instance.all_logs(run_id)
            if "blocked by limit for pool" in (r.message or "")
        ]
    assert blocked, "no step reported waiting for a pool slot"
