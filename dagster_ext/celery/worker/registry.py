"""Workers announce themselves in the claim store (name, queues, slots) so that `status` works on
every broker, including the filesystem one that has no worker inspection, and say since when they
have had a free slot (`idle_since`, sampled every `SAMPLE_S`): the run worker uses that to tell a
step that waits for a slot from a step whose message was lost (see `run_worker.lost_messages`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

from celery import Celery
from celery.signals import worker_ready, worker_shutdown, worker_shutting_down

from dagster_ext.celery.claims import open_claim_store

log = logging.getLogger(__name__)
HEARTBEAT_S = 5.0
SAMPLE_S = 0.5


def reserved_count() -> int:
    """Messages this worker holds (received, not yet finished): Celery's own bookkeeping."""
    from celery.worker import state

    return len(state.reserved_requests)


class IdleClock:
    """Since when the worker has continuously had room for one more message (None: it is full).

    Sampled, so a slot that was full only between two samples is missed: the run worker's grace
    covers that, and a wrong guess only costs a duplicate message that the claim drops.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.idle_since: float | None = None
        self.stopping = False  # warm shutdown: no longer consuming, however free the slots

    def sample(self, held: int, now: float) -> None:
        if self.stopping or held >= self.capacity:
            self.idle_since = None
        elif self.idle_since is None:
            self.idle_since = now


class WorkerRegistration:
    """Registers the worker when it is ready; its name, queues and slots are read from the started
    worker itself, so they are the ones it consumes with, however it was started."""

    def __init__(self, *, claims_url: str, read_ahead: int = 0) -> None:
        self._claims_url = claims_url
        self._read_ahead = read_ahead
        self._info: dict[str, Any] = {}
        self._name = ""
        self._clock = IdleClock(1 + read_ahead)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def connect(self, app: Celery) -> None:
        worker_ready.connect(self._on_ready, weak=False)
        worker_shutting_down.connect(self._on_shutting_down, weak=False)
        worker_shutdown.connect(self._on_shutdown, weak=False)

    def _on_ready(self, sender: Any = None, **_: Any) -> None:
        """`sender`: the worker's consumer."""
        self._name = str(sender.hostname)
        concurrency = int(sender.controller.concurrency)
        self._info = {
            "queues": list(sender.app.amqp.queues.consume_from),
            "concurrency": concurrency,
            "read_ahead": self._read_ahead,
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }
        self._clock = IdleClock(concurrency + self._read_ahead)  # room for a message, not only a slot
        self._thread = threading.Thread(target=self._loop, name="dagster-ext-registry", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        store = open_claim_store(self._claims_url)
        next_beat = 0.0
        while True:
            now = time.time()
            self._clock.sample(reserved_count(), now)
            if now >= next_beat:
                next_beat = now + HEARTBEAT_S
                info = {**self._info, "idle_since": self._clock.idle_since, "sampled_at": now}
                try:
                    store.heartbeat_worker(self._name, info, ttl_s=HEARTBEAT_S * 3)
                except Exception:
                    log.warning("could not register worker %s in the claim store", self._name, exc_info=True)
            if self._stop.wait(SAMPLE_S):
                return

    def _on_shutting_down(self, **_: Any) -> None:
        """A warm shutdown stops consuming at once but may wait long for running steps: from now on
        the worker must not look idle, or the run worker would take its queue's steps for lost."""
        self._clock.stopping = True
        self._clock.idle_since = None

    def _on_shutdown(self, **_: Any) -> None:
        self._stop.set()
        try:
            open_claim_store(self._claims_url).forget_worker(self._name)
        except Exception:
            log.warning("could not deregister worker %s", self._name, exc_info=True)
