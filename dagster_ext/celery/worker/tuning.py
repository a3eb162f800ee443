"""Worker options for many short steps: `--read-ahead N` and `--slot-nice N`.

Both come on top of the default hand-off, where a slot's next message is fetched when its step
ends (`step_end_fetch`), so they matter only for steps of a few hundred milliseconds on a busy host.

`--read-ahead N` lets a worker hold N messages beyond its slots, waiting in its main process, so a
freed slot gets its next step without a broker round trip even when the step's wind-down is shorter
than the fetch. A step runs only in a slot (Celery's prefork pool gives work only to idle processes,
and the claim is taken in the slot), so the cap does not move. The price, and why it is 0 by
default: a message read ahead is not overtaken by a more urgent one published after it, and it waits
on a busy worker while another worker may have a free slot, for as long as the running steps take.
Late ack still holds: a worker that dies returns its held messages like any other unacked ones, and
the run worker's lost-message rule covers a broker that keeps them (see `run_worker.lost_messages`).
Applied by `step_end_fetch.limit_consumption`.

`--slot-nice N`: on a host with fewer cores than busy processes, most of the idle time left between
two steps is the main process waiting for a CPU behind the slots it feeds; the slots lower their own
priority so it wins. Off by default: on a shared host (not a container) the slots then also yield to
every other process.
"""

from __future__ import annotations

from typing import Any


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
