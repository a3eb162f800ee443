"""Step priorities, translated so that a higher number is more urgent on every broker.

Pure functions of the broker kind; no Celery import. A step's urgency comes from its tags
(`run_worker.routing`). Brokers then disagree: RabbitMQ serves the highest `priority` first, Redis
(kombu's emulation with one list per priority step) serves the *lowest* first, and the filesystem
transport has no priorities at all. `broker_priority` hides that. Shared: the Celery settings
(`conf`) publish with the default priority too.
"""

from __future__ import annotations

import enum

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
