"""Worker options for many short steps: `--read-ahead N` and `--slot-nice N`.

`--read-ahead N` lets a worker hold N messages beyond its slots, waiting in its main process. Why:
with one message per slot (the default), a slot that finishes a step sits idle while the worker
acks, asks the broker for the next message and hands it over: ~17 ms per step on the bench's
loaded 2-core machine, a tenth of a warm no-op step. A message read ahead is handed to the slot the
moment it is free (Celery's prefork pool gives work only to idle processes, so it never queues
behind a busy slot). The cap is unchanged: a step runs only in a slot, and the message waiting in
the main process is not claimed until a slot takes it.

The price, and why it is off by default: a message read ahead is not overtaken by a more urgent one
published after it (priorities are exact only with N = 0), and up to N steps wait on a busy worker
while another worker may have a free slot. Late ack still holds: a worker that dies returns its
read-ahead messages like any other unacked ones, and the run worker's lost-message rule covers a
broker that keeps them (see `lost_messages`).

`--slot-nice N`: what is left of the idle time between two steps is mostly the main process waiting
for a CPU behind the slots it feeds, on a host with fewer cores than busy processes; the slots lower
their own priority so it wins. Off by default: on a shared host (not a container) the slots then
also yield to every other process.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, bootsteps

CONF_KEY = "dagster_ext_read_ahead"


class ReadAhead(bootsteps.StartStopStep):
    """Raises the consumer's prefetch count by N after Celery sets it (again after each reconnect)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.extra = int(parent.app.conf.get(CONF_KEY) or 0)

    def start(self, parent: Any) -> None:
        if self.extra > 0 and parent.qos is not None:
            parent.qos.increment_eventually(self.extra)
            parent.qos.update()


def enable_read_ahead(app: Celery, extra: int) -> None:
    """Worker side only. Celery's own `worker_disable_prefetch` caps held messages at the slots on
    Redis, so it is turned off; the prefetch count (slots + N) is what bounds the worker then."""
    if extra <= 0:
        return
    app.conf.update({CONF_KEY: extra, "worker_disable_prefetch": False})
    app.steps["consumer"].add(ReadAhead)


def lower_slot_priority(increment: int) -> None:
    """Worker side only: each prefork slot process raises its own niceness by `increment` when it
    starts (unprivileged: a process may always lower its own priority)."""
    if increment <= 0:
        return
    import os

    from celery.signals import worker_process_init

    def _nice(**_: Any) -> None:
        os.nice(increment)

    worker_process_init.connect(_nice, weak=False)
