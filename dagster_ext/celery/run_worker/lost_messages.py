"""When a queued step's message is lost: a step nobody claimed while a worker of its queue sat idle.

A message can vanish without a worker dying: Celery drops the messages a worker had received but not
yet started when its broker connection breaks (they cannot be acked on the new channel), and Redis
keeps them in its `unacked` hash until the visibility timeout, which must outlast the longest step
(hours). The claim store cannot see them: the step was never claimed. What can be seen is that a
worker consuming the step's queue has had a free slot for a while: had the message still been in the
queue, that worker would have taken it within one poll. Then the step is dispatched again; the claim
makes the late original (if it ever comes back) harmless.

Pure: the workers' heartbeats (`worker.registry`) come in as data, time as a number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# How long a worker of the queue must have had a free slot after the step was queued before the
# step counts as lost: many broker polls, and a few of the registry's samples.
UNCLAIMED_GRACE_S = 5.0


def idle_worker_for(
    queue: str, queued_at: float, workers: Iterable[Mapping[str, Any]], *, grace_s: float = UNCLAIMED_GRACE_S
) -> str | None:
    """The name of a worker that consumes `queue` and had a free slot for `grace_s` or longer, all
    after `queued_at` (epoch seconds); None when every such worker was busy (the step is just waiting).
    """
    for worker in workers:
        if queue not in (worker.get("queues") or ()):
            continue
        idle_since, sampled_at = worker.get("idle_since"), worker.get("sampled_at")
        if idle_since is None or sampled_at is None:
            continue
        if float(sampled_at) - max(float(idle_since), queued_at) >= grace_s:
            return str(worker.get("name"))
    return None
