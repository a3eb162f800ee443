"""PostgreSQL (run, event and schedule storage) restarted while a step pod writes events.

The run worker and the step process reach the database through dagster-postgres, which connects
per operation and retries a failed connection with backoff (about 6 s in all): a restart shorter
than that must cost nothing. The step logs numbered ticks; after the run, every tick is in the
event log exactly once and in order. Bounds are hang guards only.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.integration.step_executor.test_step_executor import location

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

TICKS = 40  # tests/integration/code_location.py: log_ticks
TICK = re.compile(r"\btick (\d+)\b")


def _ticks(deployment: Any, run_id: str) -> list[int]:
    found = []
    for message in deployment.event_messages(run_id):
        match = TICK.search(message)
        if match and message.rstrip().endswith(match.group(0)):
            found.append(int(match.group(1)))
    return found


def _wait_for_ticks(deployment: Any, run_id: str, *, at_least: int) -> None:
    deadline = time.monotonic() + 240
    while len(_ticks(deployment, run_id)) < at_least:
        assert time.monotonic() < deadline, deployment.event_messages(run_id)[-20:]
        time.sleep(0.25)


def test_run_survives_a_database_restart_with_no_event_lost(dagster_deployment: Any, postgres: Any) -> None:
    deployment = dagster_deployment(location=location())
    run_id = deployment.launch("step_ticks")
    _wait_for_ticks(deployment, run_id, at_least=4)
    before = len(_ticks(deployment, run_id))
    postgres.restart(down_s=2.0)
    run = deployment.wait_for_run(run_id, timeout_s=240)
    assert run.status.value == "SUCCESS", deployment.event_messages(run_id)[-30:]
    ticks = _ticks(deployment, run_id)
    # The restart landed mid-step (the step was still ticking), and no tick was lost or repeated.
    assert before < TICKS, "the step had finished before the restart"
    assert ticks == list(range(TICKS)), ticks
