"""`dagster-ext celery worker` tuning for short steps. `--read-ahead N`: a message waits in the
worker's main process, never in a slot, and is not lost with the worker. `--slot-nice N`: the slot
processes yield the CPU to the main process. Real Redis, real worker processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib

from tests.integration.celery.harness import CeleryHarness, iter_events, max_overlap

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]


def _held_messages(redis_url: str) -> int:
    """Messages the workers took and have not acked yet: kombu's `unacked` hash."""
    return int(redis_lib.Redis.from_url(redis_url).hlen("unacked"))


def _held_steps(redis_url: str) -> list[str]:
    """The step key of each unacked message (from its task id, `dagster-step:<run>:<step>:...`)."""
    values = redis_lib.Redis.from_url(redis_url).hvals("unacked")
    return [json.loads(value)[0]["headers"]["id"].split(":")[2] for value in values]


@pytest.mark.timeout(180)
def test_read_ahead_holds_one_message_beyond_the_slot_and_keeps_the_cap(
    celery_harness: Callable[..., CeleryHarness], redis: Any
) -> None:
    h = celery_harness({"broker": redis.url})
    h.env["DX_STEP_SLEEP"] = "0.4"
    h.start_worker("w1", slots=1, options=("--read-ahead", "1"))
    h.wait_workers_ready()
    run = h.start_run("fan_out")
    h.wait_trace(lambda e: e["event"] == "start" and e["step"].startswith("work_"), timeout_s=90)
    held: list[int] = []  # unacked messages whose step has not ended
    unacked: list[int] = []
    while run.proc.poll() is None and len(list(iter_events(h.trace(), "end"))) < 25:
        steps = _held_steps(redis.url)
        ended = {e["step"] for e in iter_events(h.trace(), "end")}
        held.append(sum(step not in ended for step in steps))
        unacked.append(len(steps))
        time.sleep(0.05)
    result = run.result(timeout_s=120)
    assert result["success"], result
    assert max(held) == 2, Counter(held)  # the running step and the one read ahead; never more
    assert Counter(held).most_common(1)[0][0] == 2, Counter(held)
    # Plus, for a moment, the finished step's message until its ack goes out (deferred_ack).
    assert max(unacked) <= 3, Counter(unacked)
    assert max_overlap(h.trace()) == 1  # the message read ahead never ran beside the slot's step


@pytest.mark.timeout(240)
def test_a_read_ahead_message_of_a_killed_worker_still_runs_once(
    celery_harness: Callable[..., CeleryHarness], redis: Any
) -> None:
    """The killed worker held a running step (its lease lapses) and one read ahead (never claimed,
    unacked in Redis until the visibility timeout): both run elsewhere, each exactly once."""
    h = celery_harness({"broker": redis.url, "claim_lease_seconds": 3})
    h.env["DX_STEP_SLEEP"] = "1.0"
    h.start_worker("w1", slots=1, options=("--read-ahead", "1"))
    h.wait_workers_ready()
    run = h.start_run("fan_out")
    h.wait_trace(lambda e: e["event"] == "start" and e["step"].startswith("work_"), timeout_s=90)
    starts = len(list(iter_events(h.trace(), "start")))
    deadline = time.monotonic() + 30
    while len(list(iter_events(h.trace(), "start"))) == starts:  # a fresh step: its slot is busy ~1 s
        assert time.monotonic() < deadline, "no next step started"
        time.sleep(0.02)
    time.sleep(0.25)
    assert _held_messages(redis.url) == 2, "the worker does not hold a message beyond its slot"
    h.kill_worker("w1")
    h.start_worker("w2", slots=1)
    result = run.result(timeout_s=180)
    assert result["success"], result
    ends = Counter(e["step"] for e in iter_events(h.trace(), "end"))
    assert len(ends) == 30 and set(ends.values()) == {1}, ends
    log = h.store.claim_log(result["run_id"])
    assert any(e["event"] == "unclaimed" for e in log), "the read-ahead message was not recovered"


def _nice(pid: int) -> int:
    """Field 19 of /proc/<pid>/stat (after the parenthesised command name, which may hold spaces)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[16])


@pytest.mark.timeout(180)
def test_slot_nice_lowers_only_the_slot_processes_priority(
    celery_harness: Callable[..., CeleryHarness], redis: Any
) -> None:
    h = celery_harness({"broker": redis.url})
    h.start_worker("w1", slots=2, options=("--slot-nice", "7"))
    h.wait_workers_ready()
    main = h.workers["w1"].pid
    slots = [int(p) for p in Path(f"/proc/{main}/task/{main}/children").read_text().split()]
    assert len(slots) == 2
    assert [_nice(pid) - _nice(main) for pid in slots] == [7, 7]
    result = h.start_run("process_numbers").result(timeout_s=120)  # the slots still run steps
    assert result["success"] and result["result"] == 55, result


def _status(h: CeleryHarness, *flags: str) -> str:
    args = [sys.executable, "-c", "from dagster_ext.cli import main; main()", "celery", "status"]
    args += ["-y", str(h.home / "worker_config.yaml"), *flags]
    return subprocess.run(args, env=h.env, capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.mark.timeout(180)
def test_status_shows_depth_workers_and_running_steps(
    celery_harness: Callable[..., CeleryHarness], redis: Any
) -> None:
    """One slot, six 60 s steps: one runs, five wait; the worker is full and says so."""
    h = celery_harness({"broker": redis.url})
    h.env["DX_LONG_S"] = "60"
    h.start_worker("w1", slots=1, options=("--read-ahead", "1"))
    h.wait_workers_ready()
    run = h.start_run("long_fan")
    (started,) = h.wait_trace(lambda e: e["event"] == "start" and e["step"].startswith("long_"), 90)
    time.sleep(6)  # one heartbeat after the worker filled up
    report = json.loads(_status(h, "--json"))
    assert report["queues"] == {"dagster": 4}  # six queued, one running, one read ahead
    (worker,) = report["workers"]
    assert (worker["name"], worker["queues"], worker["concurrency"], worker["read_ahead"]) == (
        "w1@test",
        ["dagster"],
        1,
        1,
    )
    assert worker["idle_since"] is None  # full: a slot and the read-ahead place are taken
    (running,) = report["running"]
    assert (running["step_key"], running["worker"], running["lease_alive"]) == (
        started["step"],
        "w1@test",
        True,
    )
    text = _status(h)
    assert "dagster: 4 waiting" in text and "1 slots + 1 read ahead" in text and ", full" in text, text
    assert f"{started['step']}#0 on w1@test" in text, text
    assert run.proc.poll() is None  # still running: the harness stops it


def _held_during_wind_down(
    h: CeleryHarness, redis_url: str, *, options: tuple[str, ...]
) -> tuple[list[int], dict[str, Any]]:
    """One slot, two steps queued at once, each with a 3 s wind-down after its last event: how many
    messages the worker holds while the first step winds down."""
    h.env["DX_TEARDOWN_S"] = "3"
    h.start_worker("w1", slots=1, options=options)
    h.wait_workers_ready()
    run = h.start_run("wind_down")
    h.wait_trace(lambda e: e["event"] == "end", timeout_s=90)  # the first step's body is done
    time.sleep(1.0)  # its STEP_SUCCESS is written; its resource teardown runs ~2 s more
    held: list[int] = []
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        held.append(_held_messages(redis_url))
        time.sleep(0.05)
    result = run.result(timeout_s=120)
    assert result["success"], result
    return held, result


@pytest.mark.timeout(180)
def test_the_next_message_is_fetched_while_a_step_winds_down_and_waits_for_the_slot(
    celery_harness: Callable[..., CeleryHarness], redis: Any
) -> None:
    h = celery_harness({"broker": redis.url})
    held, result = _held_during_wind_down(h, redis.url, options=())
    assert set(held) == {2}, Counter(held)  # the winding-down step's message and the next one
    log = h.store.claim_log(result["run_id"])
    finished = {e["step_key"]: e["at"] for e in log if e["event"] == "finished"}
    claimed = {e["step_key"]: e["at"] for e in log if e["event"] == "claimed"}
    first, second = sorted(claimed, key=claimed.__getitem__)
    assert claimed[second] > finished[first]  # fetched early, but claimed only once the slot was free
    assert max_overlap(h.trace()) == 1


@pytest.mark.timeout(180)
def test_without_fetch_at_step_end_the_next_message_stays_queued(
    celery_harness: Callable[..., CeleryHarness], redis: Any
) -> None:
    h = celery_harness({"broker": redis.url})
    held, _ = _held_during_wind_down(h, redis.url, options=("--no-fetch-at-step-end",))
    assert set(held) == {1}, Counter(held)  # one message per slot (Celery's worker_disable_prefetch)


@pytest.mark.timeout(240)
def test_a_plain_celery_worker_is_registered_and_tuned_like_dagster_ext_celery_worker(
    celery_harness: Callable[..., CeleryHarness], redis: Any
) -> None:
    """`celery -A dagster_ext.celery.worker.app worker`: the same registry entry (what the run
    worker's lost-message rule reads) and the same hand-off tuning as `dagster-ext celery worker`.
    The read-ahead shows it: without our consumer bootstep Celery holds one message per slot."""
    h = celery_harness({"broker": redis.url})
    h.env["DX_STEP_SLEEP"] = "0.4"
    h.start_worker("plain", slots=1, options=("--read-ahead", "1"), plain_celery=True)
    h.start_worker("ours", queues=("elsewhere",), slots=1, options=("--read-ahead", "1"))
    h.wait_workers_ready()
    deadline = time.monotonic() + 30
    while True:
        entries = {w["name"]: w for w in h.store.workers()}
        if all(entries[name].get("idle_since") for name in ("plain@test", "ours@test")):
            break
        assert time.monotonic() < deadline, f"a worker never reported a free slot: {entries}"
        time.sleep(0.2)
    plain, ours = entries["plain@test"], entries["ours@test"]
    for key, value in (("concurrency", 1), ("read_ahead", 1)):
        assert plain[key] == ours[key] == value, (key, plain, ours)
    assert (plain["queues"], ours["queues"]) == (["dagster"], ["elsewhere"])
    run = h.start_run("fan_out")
    h.wait_trace(lambda e: e["event"] == "start" and e["step"].startswith("work_"), timeout_s=90)
    held: list[int] = []  # unacked messages whose step has not ended
    while run.proc.poll() is None and len(list(iter_events(h.trace(), "end"))) < 25:
        ended = {e["step"] for e in iter_events(h.trace(), "end")}
        held.append(sum(step not in ended for step in _held_steps(redis.url)))
        time.sleep(0.05)
    result = run.result(timeout_s=120)
    assert result["success"], result
    assert max(held) == 2, Counter(held)  # the running step and the one read ahead
    assert max_overlap(h.trace()) == 1
    assert {e["worker"] for e in iter_events(h.trace(), "start")} == {"plain"}
