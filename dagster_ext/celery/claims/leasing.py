"""Hold a step's claim while it runs: renew the lease, and stop the step when its run is terminated.

A daemon thread renews the lease every third of its length and polls the run's cancel flag. On
cancel (or if the lease was lost to another holder) it delivers SIGUSR2 to the thread running the
step, whose handler raises Dagster's interrupt error: the step fails as interrupted, runs its
cleanup, and the worker slot is freed without killing the worker process.
"""

from __future__ import annotations

import logging
import signal
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager

from dagster_ext.celery.claims.model import ClaimStore, StepAttempt
from dagster_ext.dagster_compat.runs import DagsterExecutionInterruptedError

log = logging.getLogger(__name__)
CANCEL_POLL_S = 0.5
INTERRUPT_SIGNAL = signal.SIGUSR2


class LeaseKeeper(threading.Thread):
    def __init__(
        self, store: ClaimStore, step: StepAttempt, *, holder: str, lease_s: float, can_interrupt: bool
    ) -> None:
        super().__init__(name=f"lease-{step.step_key}", daemon=True)
        self._can_interrupt = can_interrupt
        self._store = store
        self._step = step
        self._holder = holder
        self._lease_s = lease_s
        self._stop_event = threading.Event()
        self._target = threading.get_ident()
        self.interrupted_because: str | None = None

    def run(self) -> None:
        renew_every = max(0.2, self._lease_s / 3)
        since_renew = 0.0
        tick = min(CANCEL_POLL_S, renew_every)
        while not self._stop_event.wait(tick):
            since_renew += tick
            try:
                if since_renew >= renew_every:
                    since_renew = 0.0
                    if not self._store.renew(self._step, holder=self._holder, lease_s=self._lease_s):
                        self._interrupt("the step's claim lease was lost (another worker may hold it)")
                        return
                if self._store.is_canceled(self._step.run_id):
                    self._interrupt("the run is being terminated")
                    return
            except Exception:  # claim store briefly unreachable: keep trying, the lease has slack
                log.warning("lease keeper for %s: claim store error", self._step.ident, exc_info=True)

    def _interrupt(self, reason: str) -> None:
        self.interrupted_because = reason
        log.warning("interrupting step %s: %s", self._step.ident, reason)
        if self._can_interrupt:  # else SIGUSR2's default action would kill the whole worker
            signal.pthread_kill(self._target, INTERRUPT_SIGNAL)

    def stop(self) -> None:
        self._stop_event.set()


def _raise_interrupt(signum: int, frame: types.FrameType | None) -> None:
    raise DagsterExecutionInterruptedError("step interrupted by dagster-ext (run terminated or claim lost)")


@contextmanager
def holding_claim(
    store: ClaimStore, step: StepAttempt, *, holder: str, lease_s: float
) -> Iterator[LeaseKeeper]:
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(INTERRUPT_SIGNAL, _raise_interrupt) if in_main else None
    keeper = LeaseKeeper(store, step, holder=holder, lease_s=lease_s, can_interrupt=in_main)
    if not in_main:
        log.warning("step %s runs outside the main thread: terminate cannot interrupt it", step.ident)
    keeper.start()
    try:
        yield keeper
    finally:
        if in_main:  # a cancel that lands after the step ended must not raise out of here
            signal.signal(INTERRUPT_SIGNAL, signal.SIG_IGN)
        keeper.stop()
        keeper.join(timeout=5)
        if in_main:
            signal.signal(INTERRUPT_SIGNAL, previous)
