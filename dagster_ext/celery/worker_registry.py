"""Workers announce themselves in the claim store (name, queues, slots) so that `status` works on
every broker, including the filesystem one that has no worker inspection.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

from dagster_ext.celery.claims import open_claim_store

log = logging.getLogger(__name__)
HEARTBEAT_S = 5.0


class WorkerRegistration:
    def __init__(self, *, claims_url: str, queues: list[str], concurrency: int, name: str) -> None:
        self._claims_url = claims_url
        self._info: dict[str, Any] = {
            "queues": queues,
            "concurrency": concurrency,
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def connect(self, app: Celery) -> None:
        worker_ready.connect(self._on_ready, weak=False)
        worker_shutdown.connect(self._on_shutdown, weak=False)

    def _on_ready(self, sender: Any = None, **_: Any) -> None:
        if sender is not None and getattr(sender, "hostname", None):
            self._name = str(sender.hostname)
        self._thread = threading.Thread(target=self._loop, name="dagster-ext-registry", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        store = open_claim_store(self._claims_url)
        while True:
            try:
                store.heartbeat_worker(self._name, self._info, ttl_s=HEARTBEAT_S * 3)
            except Exception:
                log.warning("could not register worker %s in the claim store", self._name, exc_info=True)
            if self._stop.wait(HEARTBEAT_S):
                return

    def _on_shutdown(self, **_: Any) -> None:
        self._stop.set()
        try:
            open_claim_store(self._claims_url).forget_worker(self._name)
        except Exception:
            log.warning("could not deregister worker %s", self._name, exc_info=True)
