"""Create step K8s Jobs concurrently, bounded, without blocking the executor loop.

Dagster's step-delegating executor calls `launch_step` one step at a time; a blocking create per
step serialises a 50-step fan-out behind 50 API round trips. We hand creates to a small pool and
report failures through the step's health check instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class CreatePool:
    def __init__(self, *, max_in_flight: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, max_in_flight), thread_name_prefix="k8s-create")
        self._futures: dict[str, Future[object]] = {}
        self._lock = threading.Lock()

    def submit(self, key: str, create: Callable[[], object]) -> None:
        with self._lock:
            self._futures[key] = self._pool.submit(create)

    def in_flight(self, key: str) -> bool:
        with self._lock:
            future = self._futures.get(key)
        return future is not None and not future.done()

    def error(self, key: str) -> BaseException | None:
        with self._lock:
            future = self._futures.get(key)
        if future is None or not future.done():
            return None
        return future.exception()

    def wait(self, key: str, timeout_s: float | None = None) -> None:
        with self._lock:
            future = self._futures.get(key)
        if future is not None:
            future.exception(timeout=timeout_s)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
