"""Routing: which queue a step goes to and how urgent it is, from dagster-celery's tags.

Pure functions of tag values. The urgency of a step is `dagster-celery/priority` (op, default 5)
plus `dagster-celery/run_priority` (job, default 0), as in dagster-celery; `priorities` translates
it for the broker.
"""

from __future__ import annotations

from collections.abc import Mapping

from dagster_ext.celery.priorities import DEFAULT_STEP_PRIORITY
from dagster_ext.errors import ConfigError

QUEUE_TAG = "dagster-celery/queue"
STEP_PRIORITY_TAG = "dagster-celery/priority"
RUN_PRIORITY_TAG = "dagster-celery/run_priority"


def _int_tag(tags: Mapping[str, str], key: str, default: int, where: str) -> int:
    raw = tags.get(key)
    if raw is None or str(raw).strip() == "":
        return default
    try:
        return int(str(raw).strip())
    except ValueError as err:
        raise ConfigError(f"must be an integer, got {raw!r}", path=f"{where}.tags[{key!r}]") from err


def step_urgency(*, step_tags: Mapping[str, str], run_tags: Mapping[str, str], step_key: str = "step") -> int:
    """Higher is more urgent: step priority (default 5) plus run priority (default 0)."""
    step = _int_tag(step_tags, STEP_PRIORITY_TAG, DEFAULT_STEP_PRIORITY, f"op {step_key!r}")
    run = _int_tag(run_tags, RUN_PRIORITY_TAG, 0, "run")
    return step + run


def step_queue(*, step_tags: Mapping[str, str], default_queue: str) -> str:
    queue = str(step_tags.get(QUEUE_TAG) or "").strip()
    return queue or default_queue
