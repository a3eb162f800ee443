"""Step priorities: dagster-celery's tags, translated so that a higher number is more urgent on
every broker.

Pure functions of tag values and the broker kind; no Celery import. The urgency of a step is
`dagster-celery/priority` (op, default 5) plus `dagster-celery/run_priority` (job, default 0),
as in dagster-celery. Brokers then disagree: RabbitMQ serves the highest `priority` first, Redis
(kombu's emulation with one list per priority step) serves the *lowest* first, and the filesystem
transport has no priorities at all. `broker_priority` hides that.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from dagster_ext.errors import ConfigError

QUEUE_TAG = "dagster-celery/queue"
STEP_PRIORITY_TAG = "dagster-celery/priority"
RUN_PRIORITY_TAG = "dagster-celery/run_priority"

DEFAULT_STEP_PRIORITY = 5
MIN_PRIORITY = 0
MAX_PRIORITY = 9
# One kombu priority step per level, so Redis keeps every level apart (kombu's default is 0,3,6,9).
REDIS_PRIORITY_STEPS: tuple[int, ...] = tuple(range(MIN_PRIORITY, MAX_PRIORITY + 1))


class BrokerKind(enum.Enum):
    AMQP = "amqp"
    REDIS = "redis"
    FILESYSTEM = "filesystem"
    OTHER = "other"


def broker_kind(broker_url: str) -> BrokerKind:
    scheme = broker_url.split("://", 1)[0].lower() if "://" in broker_url else broker_url.lower()
    if scheme in ("amqp", "amqps", "pyamqp", "librabbitmq"):
        return BrokerKind.AMQP
    if scheme in ("redis", "rediss", "sentinel", "redis+socket"):
        return BrokerKind.REDIS
    if scheme == "filesystem":
        return BrokerKind.FILESYSTEM
    return BrokerKind.OTHER


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


def clamp_urgency(urgency: int) -> int:
    return max(MIN_PRIORITY, min(MAX_PRIORITY, urgency))


def broker_priority(urgency: int, kind: BrokerKind) -> int | None:
    """The `priority` to publish with, or None where the broker has no priorities.

    Urgencies outside 0..9 are clamped: they still order correctly against each other only
    within that range.
    """
    level = clamp_urgency(urgency)
    if kind is BrokerKind.AMQP:
        return level
    if kind is BrokerKind.REDIS:
        return MAX_PRIORITY - level
    return None


def step_queue(*, step_tags: Mapping[str, str], default_queue: str) -> str:
    queue = str(step_tags.get(QUEUE_TAG) or "").strip()
    return queue or default_queue
