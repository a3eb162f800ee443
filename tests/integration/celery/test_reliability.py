"""Lost workers, a restarted broker and run termination, with real processes and a real Redis."""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import redis as redis_lib
from dagster import DagsterInstance, RunsFilter

from dagster_ext.celery.app import make_celery_app
from tests.integration.celery.harness import CeleryHarness, iter_events

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]


@pytest.mark.timeout(180)
def test_sigkill_of_a_worker_mid_step(celery_harness: Callable[..., CeleryHarness], redis: Any) -> None:
    """The run succeeds; the step body ran to completion exactly once (claim log: 2 claims, 1 finish)."""
    h = celery_harness({"broker": redis.url, "claim_lease_seconds": 3})
    h.env["DX_SLOW_S"] = "6"
    h.start_worker("w1", slots=1)
    h.start_worker("w2", slots=1)
    h.wait_workers_ready()
    run = h.start_run("slow_chain")
    (started,) = h.wait_trace(lambda e: e["step"] == "slow" and e["event"] == "start", timeout_s=90)
    h.kill_worker(started["worker"])
    result = run.result(timeout_s=120)
    assert result["success"], result
    trace = h.trace()
    slow = Counter(e["event"] for e in trace if e["step"] == "slow")
    assert slow == {"start": 2, "end": 1}
    log = [e for e in h.store.claim_log(result["run_id"]) if e.get("step_key") == "slow"]
    claims = [e for e in log if e["event"] == "claimed"]
    assert len(claims) == 2 and claims[0]["worker"] != claims[1]["worker"]
    assert [e["outcome"] for e in log if e["event"] == "finished"] == ["ok"]
    assert any(e["event"] == "lost" for e in log)


@pytest.mark.timeout(240)
def test_redis_restart_mid_run_loses_no_step(
    celery_harness: Callable[..., CeleryHarness], redis: Any
) -> None:
    h = celery_harness({"broker": redis.url})
    h.env["DX_STEP_SLEEP"] = "0.5"
    h.start_worker("w1", slots=2)
    h.wait_workers_ready()
    run = h.start_run("fan_out")
    h.wait_trace(lambda e: e["event"] == "end" and e["step"].startswith("work_"), timeout_s=90)
    redis.restart()
    restarted_at = time.time()
    result = run.result(timeout_s=200)
    assert result["success"], result
    ends = Counter(e["step"] for e in iter_events(h.trace(), "end"))
    assert len(ends) == 30 and set(ends.values()) == {1}, ends
    assert any(e["t"] > restarted_at for e in iter_events(h.trace(), "start")), "restart came too late"


@pytest.mark.timeout(180)
def test_terminate_stops_running_steps_and_drops_queued_ones(
    celery_harness: Callable[..., CeleryHarness], redis: Any
) -> None:
    h = celery_harness({"broker": redis.url})
    h.env["DX_LONG_S"] = "60"
    h.start_worker("w1", slots=2)
    h.wait_workers_ready()
    token = uuid.uuid4().hex
    run = h.start_run("long_fan", tags={"test/token": token})
    deadline = time.monotonic() + 90
    while len([e for e in iter_events(h.trace(), "start") if e["step"].startswith("long_")]) < 2:
        assert time.monotonic() < deadline, "two long steps never started"
        time.sleep(0.1)
    os.kill(run.proc.pid, signal.SIGINT)  # what Dagster's run termination delivers to the run worker
    terminated_at = time.time()
    interrupted = h.wait_trace(lambda e: e["event"] == "interrupted", timeout_s=15)
    deadline = time.monotonic() + 15
    while len(interrupted) < 2 and time.monotonic() < deadline:
        interrupted = [e for e in h.trace() if e["event"] == "interrupted"]
        time.sleep(0.1)
    assert len(interrupted) == 2 and max(e["t"] for e in interrupted) - terminated_at < 10
    run.proc.wait(timeout=60)
    time.sleep(5)  # the four queued steps had every chance to start on the freed slots
    starts = [e for e in iter_events(h.trace(), "start") if e["step"].startswith("long_")]
    assert len(starts) == 2, starts
    assert not any(e["event"] == "end" for e in h.trace() if e["step"].startswith("long_"))
    assert h.workers["w1"].poll() is None, "the worker survived: only the steps were stopped"
    os.environ["DAGSTER_PG_PASSWORD"] = h.env["DAGSTER_PG_PASSWORD"]
    with DagsterInstance.from_config(str(h.home)) as instance:
        (dagster_run,) = instance.get_runs(filters=RunsFilter(tags={"test/token": token}))
        assert dagster_run.is_finished and not dagster_run.is_success
    log = h.store.claim_log(dagster_run.run_id)
    assert [e for e in log if e["event"] == "claimed" and e["step_key"].startswith("long_")][2:] == []


def _drop_one_queued_message(redis_url: str, step_prefix: str) -> str | None:
    """Delete the newest queued message of a step named `step_prefix*` straight from Redis, the way a
    broker reconnect loses a message a worker had received but not started. Returns its step key."""
    client = redis_lib.Redis.from_url(redis_url)
    for key in client.keys("dagster*"):
        if key.startswith(b"dagster-ext:") or client.type(key) != b"list":
            continue  # our claim log lives next to the queues
        for raw in client.lrange(key, 0, -1):
            _, kwargs, _ = json.loads(base64.b64decode(json.loads(raw)["body"]))
            if kwargs["step_key"].startswith(step_prefix) and client.lrem(key, 1, raw) == 1:
                return str(kwargs["step_key"])
    return None


@pytest.mark.timeout(180)
def test_a_step_whose_message_was_lost_before_any_claim_is_dispatched_again(
    celery_harness: Callable[..., CeleryHarness], redis: Any
) -> None:
    """Nothing claimed the step, nothing holds a lease on it: only the idle worker gives it away."""
    h = celery_harness({"broker": redis.url})
    h.env["DX_STEP_SLEEP"] = "0.3"
    h.start_worker("w1", slots=1)
    h.wait_workers_ready()
    run = h.start_run("fan_out")
    h.wait_trace(lambda e: e["event"] == "start" and e["step"].startswith("work_"), timeout_s=90)
    lost = _drop_one_queued_message(redis.url, "work_")
    assert lost is not None, "no work_ message was left in the queue to lose"
    result = run.result(timeout_s=120)
    assert result["success"], result
    ends = Counter(e["step"] for e in iter_events(h.trace(), "end"))
    assert len(ends) == 30 and set(ends.values()) == {1}, ends
    log = [e for e in h.store.claim_log(result["run_id"]) if e.get("step_key") == lost]
    events = [e["event"] for e in log]
    # The run worker records "dispatched" after the send: a fast worker may claim before that record.
    assert Counter(events) == {"dispatched": 2, "unclaimed": 1, "claimed": 1, "finished": 1}, log
    assert events[0] == "dispatched" and events.index("unclaimed") < events.index("claimed"), log
    assert events.index("claimed") < events.index("finished"), log
    assert log[events.index("unclaimed")]["worker"] == "w1@test"


@pytest.mark.timeout(180)
def test_an_idle_worker_that_does_not_consume_only_adds_backed_off_duplicates(
    celery_harness: Callable[..., CeleryHarness], redis: Any
) -> None:
    """A worker whose consumer was cancelled by hand looks idle while the queue fills: the run worker
    takes its steps for lost, sends each again less and less often, never fails them, and once the
    worker consumes again every step runs once."""
    h = celery_harness({"broker": redis.url})
    h.start_worker("w1", slots=1)
    h.wait_workers_ready()
    app = make_celery_app(h.settings)
    app.control.cancel_consumer("dagster", destination=["w1@test"], reply=True, timeout=10)
    run = h.start_run("process_numbers")
    deadline = time.monotonic() + 120
    while True:
        log = [e for e in h.store.claim_log(_only_run_id(h)) if e["event"] == "unclaimed"]
        if len(log) >= 3:
            break
        assert time.monotonic() < deadline, "the unclaimed step was not sent again three times"
        time.sleep(0.5)
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(log)]
    assert gaps[0] >= 10 and gaps[1] >= 20, gaps  # 5 s, then twice as long each time
    app.control.add_consumer("dagster", destination=["w1@test"], reply=True, timeout=10)
    app.close()
    result = run.result(timeout_s=90)
    assert result["success"] and result["result"] == 55, result
    claims = Counter(e["step_key"] for e in h.store.claim_log(result["run_id"]) if e["event"] == "claimed")
    assert set(claims.values()) == {1}, claims


def _only_run_id(h: CeleryHarness) -> str:
    """The run id of the harness's only run, once its run worker has dispatched something."""
    keys = h.store.redis_client().keys("dagster-ext:log:*")  # type: ignore[attr-defined]
    return str(keys[0]).split("dagster-ext:log:", 1)[1] if keys else "none"
