"""Queue depths for `dagster-ext celery status`, read straight from the broker's storage."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from dagster_ext.celery.priorities import REDIS_PRIORITY_STEPS, BrokerKind
from dagster_ext.celery.settings import QueueSettings

KOMBU_SEP = "\x06\x16"


def filesystem_depths(queue_dir: str) -> dict[str, int]:
    """Messages are files named `{ms}_{uuid}.{queue}.msg`."""
    counts: Counter[str] = Counter()
    if not os.path.isdir(queue_dir):
        return {}
    for name in os.listdir(queue_dir):
        if name.endswith(".msg") and "_" in name:
            rest = name[: -len(".msg")].split("_", 1)[1]
            if "." in rest:
                counts[rest.split(".", 1)[1]] += 1
    return dict(counts)


def redis_depths(url: str, queues: list[str]) -> dict[str, int]:
    import redis

    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
    try:
        names = set(queues)
        for key in client.scan_iter("_kombu.binding.*"):
            for member in client.smembers(key):
                queue = str(member).split(KOMBU_SEP)[-1]
                if queue and "pidbox" not in queue and not queue.startswith("celeryev"):
                    names.add(queue)
        depths: dict[str, int] = {}
        for queue in sorted(names):
            keys = [queue] + [f"{queue}{KOMBU_SEP}{p}" for p in REDIS_PRIORITY_STEPS if p]
            depths[queue] = sum(int(client.llen(k)) for k in keys)
        return depths
    finally:
        client.close()


def queue_depths(settings: QueueSettings, queues: list[str]) -> dict[str, int] | None:
    """None when the broker cannot be inspected this way (RabbitMQ: use its management UI)."""
    if settings.broker_kind is BrokerKind.FILESYSTEM and settings.embedded_dir:
        found = filesystem_depths(str(Path(settings.embedded_dir) / "queue"))
        return {q: found.get(q, 0) for q in sorted(set(queues) | set(found))}
    if settings.broker_kind is BrokerKind.REDIS:
        return redis_depths(settings.broker_url, queues)
    return None
