"""Fetch a slot's next message while its step winds down, not after it.

Why: with one message per slot, a slot that finishes a step sits idle while the worker's main
process acks, asks Redis for the next message and hands it over: ~9 ms on an idle host, ~19 ms on
a busy one, a sixth of a warm no-op step in the bench. `--read-ahead` hides that, but a message read
ahead waits for as long as the running steps take, out of reach of more urgent steps and of other
workers' free slots. Here the slot tells the main process that its step has ended (its last step
event is written: STEP_SUCCESS, STEP_FAILURE, STEP_SKIPPED or STEP_UP_FOR_RETRY) and the main
process fetches the next message then. What is left of the task by that point (resource teardown,
finishing the claim, Celery's own bookkeeping) took ~10 ms in the bench, so the message waits in
the main process about that long: priorities and other workers are overtaken for milliseconds,
not for a step. The cap does not move: the message is claimed, and its step started, only once
the slot is free.

How: a pipe made in the main process before the pool forks. A slot writes its task id and a
newline (one write, shorter than PIPE_BUF, so never interleaved); the main process reads the pipe
from Celery's event loop, and the consumer's `can_consume` counts a held message whose slot has
announced its step's end as if that slot were already free. Redis only: `can_consume` is how
Celery's own `worker_disable_prefetch`, which this replaces, works, and it too is Redis-only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from types import MethodType
from typing import Any

from celery import Celery

from dagster_ext.celery.worker.celery_bases import StartStopStep

CONF_READ_AHEAD = "dagster_ext_read_ahead"
CONF_FETCH_AT_STEP_END = "dagster_ext_fetch_at_step_end"

_pipe: tuple[int, int] | None = None  # (read end, write end), made in the worker's main process
_main_pid: int | None = None


def room_for_messages(
    *, held: Iterable[str], ended: set[str], slots: int, read_ahead: int
) -> tuple[bool, set[str]]:
    """Whether the worker may take one more message, and the announcements still current.

    `held`: ids of the messages the worker holds (running or waiting for a slot); `ended`: ids whose
    slot announced its step's end. Beyond its slots the worker holds the larger of `read_ahead` and
    the number of slots whose step has ended: a message read ahead already covers a slot's wind-down,
    so the two do not add up. An announcement whose message is no longer held is dropped: its slot
    has moved on, and counting it would open a second place for the same slot.
    """
    held_ids = set(held)
    current = ended & held_ids
    return len(held_ids) < slots + max(read_ahead, len(current)), current


def announce_step_end(task_id: str | None) -> None:
    """Slot side, after the step's last event: the main process may fetch this slot's next message.

    A no-op outside a worker slot (tests, the solo pool, a worker without the pipe). Never blocks
    and never raises: a full or closed pipe costs only the early fetch.
    """
    if _pipe is None or not task_id or os.getpid() == _main_pid:
        return
    with contextlib.suppress(OSError):
        os.write(_pipe[1], f"{task_id}\n".encode())


class ConsumptionLimit(StartStopStep):
    """Replaces the consumer's prefetch limit: slots + max(read-ahead, slots whose step has ended).

    Runs after Celery's Tasks step (again after each broker reconnect, which makes a new channel).
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.read_ahead = int(parent.app.conf.get(CONF_READ_AHEAD) or 0)
        self.fetch_at_step_end = bool(parent.app.conf.get(CONF_FETCH_AT_STEP_END))
        self.ended: set[str] = set()
        self._partial = b""

    def start(self, parent: Any) -> None:
        redis = parent.connection.transport.driver_type == "redis"
        if not redis:
            # Kombu's prefetch count is the only limit there: slots + read-ahead.
            if self.read_ahead > 0 and parent.qos is not None:
                parent.qos.increment_eventually(self.read_ahead)
                parent.qos.update()
            return
        # Kombu's own count must not bind before ours: a slot whose step ended still holds its unacked
        # message while the next one is fetched.
        parent.qos.increment_eventually(self.read_ahead + self._slots(parent))
        parent.qos.update()
        channel_qos = parent.task_consumer.channel.qos
        kombu_can_consume = channel_qos.can_consume
        from celery.worker import state

        def can_consume(_qos: Any) -> bool:
            room, self.ended = room_for_messages(
                held=(r.id for r in state.reserved_requests),
                ended=self.ended,
                slots=self._slots(parent),
                read_ahead=self.read_ahead,
            )
            return room and kombu_can_consume()

        channel_qos.can_consume = MethodType(can_consume, channel_qos)
        if self.fetch_at_step_end and _pipe is not None and parent.hub is not None:
            parent.hub.add_reader(_pipe[0], self._read_announcements)

    def stop(self, parent: Any) -> None:
        if _pipe is not None and getattr(parent, "hub", None) is not None:
            parent.hub.remove_reader(_pipe[0])

    @staticmethod
    def _slots(parent: Any) -> int:
        # What Celery's worker_disable_prefetch counts: the autoscaler's maximum, else the pool size.
        return int(getattr(parent.controller, "max_concurrency", None) or parent.pool.num_processes)

    def _read_announcements(self) -> None:
        assert _pipe is not None
        try:
            data = os.read(_pipe[0], 65536)
        except BlockingIOError:
            return
        *complete, self._partial = (self._partial + data).split(b"\n")
        self.ended.update(line.decode(errors="replace") for line in complete if line)


def limit_consumption(app: Celery, *, read_ahead: int, fetch_at_step_end: bool) -> None:
    """Worker side only, before the worker starts (the pool forks after this, inheriting the pipe).

    With neither option, Celery's own `worker_disable_prefetch` (one message per slot) stays.
    """
    global _pipe, _main_pid
    if read_ahead <= 0 and not fetch_at_step_end:
        return
    if fetch_at_step_end and _pipe is None:
        read_end, write_end = os.pipe()  # not inherited across exec (PEP 446); slots are forked
        os.set_blocking(read_end, False)
        os.set_blocking(write_end, False)
        _pipe, _main_pid = (read_end, write_end), os.getpid()
    app.conf.update(
        {
            CONF_READ_AHEAD: read_ahead,
            CONF_FETCH_AT_STEP_END: fetch_at_step_end,
            "worker_disable_prefetch": False,  # replaced by ConsumptionLimit
        }
    )
    app.steps["consumer"].add(ConsumptionLimit)
