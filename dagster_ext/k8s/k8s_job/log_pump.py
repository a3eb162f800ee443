"""Follow the logs of a K8s Job's pods while they run, into one queue the op's thread drains.

One reader thread per pod (a Job with retries or parallelism has several), each holding a
`follow=true` log request, so lines reach Dagster as the container writes them rather than once
at the end. A broken connection is resumed from the last line's timestamp (lines already passed
on are dropped); the request also ends when the container ends, which is the normal exit. The
last `tail_lines` lines of each pod are kept for failure messages, so no extra log read is needed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from dagster_ext.errors import DagsterExtError
from dagster_ext.k8s.client import K8sGateway, K8sNotFound
from dagster_ext.k8s.client.errors import K8sBadRequest
from dagster_ext.k8s.client.log_streaming import PodLogStream, timestamp_key

log = logging.getLogger(__name__)

# Pauses before reopening a stream: while the container is still being created (400) or after a
# broken connection; the last value repeats. Waiting is interruptible by `stop()`.
REOPEN_BACKOFF_S: Final = (0.2, 0.5, 1.0, 2.0)
MAX_BROKEN_STREAMS: Final = 5
# How long `finish` waits for a reader that is reopening its stream (the API server went away
# mid-log and the gateway retries the open with backoff): the rest of the log is still readable.
RECONNECT_WAIT_S: Final = 30.0


@dataclass(frozen=True)
class PodLine:
    pod: str
    text: str


class LogPump:
    """Start `follow(pod)` for each pod whose container has started; read lines from `lines`."""

    def __init__(
        self,
        gateway: K8sGateway,
        *,
        namespace: str,
        container: str,
        is_running: Callable[[str], bool],
        tail_lines: int = 25,
    ) -> None:
        self._gateway = gateway
        self._namespace = namespace
        self._container = container
        self._is_running = is_running
        self._tail_lines = tail_lines
        self.lines: queue.Queue[PodLine] = queue.Queue()
        self._threads: dict[str, threading.Thread] = {}
        self._streams: dict[str, PodLogStream] = {}
        self._tails: dict[str, deque[str]] = {}
        self._last: dict[str, str] = {}  # pod -> timestamp of the last line passed on (reader thread only)
        self._stopped = threading.Event()
        self._rereads: set[str] = set()  # pods whose lingering stream `finish` closed
        self._reopening: set[str] = set()  # pods between the end of one stream and the next open
        self._lock = threading.Lock()

    def follow(self, pod: str) -> None:
        """Start following `pod` (once; later calls for the same pod do nothing)."""
        with self._lock:
            if pod in self._threads or self._stopped.is_set():
                return
            self._tails[pod] = deque(maxlen=self._tail_lines)
            thread = threading.Thread(target=self._run, args=(pod,), name=f"k8s-log-{pod}", daemon=True)
            self._threads[pod] = thread
        thread.start()

    def followed(self) -> list[str]:
        with self._lock:
            return list(self._threads)

    def tail(self, pod: str) -> str | None:
        with self._lock:
            lines = self._tails.get(pod)
            return "\n".join(lines) if lines else None

    def wait_finished(self, timeout_s: float) -> bool:
        """Wait for every reader to reach the end of its container's log."""
        with self._lock:
            threads = list(self._threads.values())
        deadline = time.monotonic() + timeout_s
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)

    def finish(self, *, grace_s: float, timeout_s: float, reconnect_s: float = RECONNECT_WAIT_S) -> bool:
        """Read every log to its end once the containers have ended, without waiting on the kubelet.

        A kubelet ends a follow request only when it next checks the container (every few seconds),
        so a stream can stay open well after its container ended. After `grace_s`, each such stream
        is closed and read once more from its last line's timestamp: the rest of the log, at once.
        A reader still reopening its stream (the API server was away) gets up to `reconnect_s`;
        a log that could not be read to its end says so in a last line, never silently."""
        if self.wait_finished(grace_s):
            return True
        with self._lock:
            lingering = [pod for pod, thread in self._threads.items() if thread.is_alive()]
            self._rereads.update(lingering)
            streams = [self._streams[pod] for pod in lingering if pod in self._streams]
        for stream in streams:
            stream.close()
        if self.wait_finished(timeout_s):
            return True
        deadline = time.monotonic() + reconnect_s
        while self._reopening_pods() and time.monotonic() < deadline:
            self._stopped.wait(0.1)
        if self.wait_finished(timeout_s):
            return True
        with self._lock:
            unfinished = [pod for pod, thread in self._threads.items() if thread.is_alive()]
        for pod in unfinished:
            self.lines.put(
                PodLine(pod, "[dagster-ext] the log may be incomplete: it was not read to its end")
            )
        return False

    def _reopening_pods(self) -> list[str]:
        with self._lock:
            return [pod for pod in self._reopening if self._threads[pod].is_alive()]

    def stop(self) -> None:
        """Close every stream now (from any thread); readers exit without reconnecting."""
        self._stopped.set()
        with self._lock:
            streams = list(self._streams.values())
        for stream in streams:
            stream.close()

    def _run(self, pod: str) -> None:
        broken = waits = 0
        while not self._stopped.is_set():
            stream = self._gateway.follow_pod_log(
                namespace=self._namespace,
                pod=pod,
                container=self._container,
                since_time=self._last.get(pod) or None,
            )
            with self._lock:
                self._streams[pod] = stream
            try:
                self._copy(pod, stream)
            except K8sBadRequest:  # container not started yet (or no log to follow)
                waits += 1
            except K8sNotFound:
                return
            except DagsterExtError as err:
                broken += 1
                if broken > MAX_BROKEN_STREAMS:
                    self.lines.put(PodLine(pod, f"[dagster-ext] stopped following the log: {err}"))
                    return
                log.info("log stream of %s broke (%s); resuming", pod, err)
            else:
                with self._lock:
                    reread = pod in self._rereads
                    self._rereads.discard(pod)
                    self._reopening.discard(pod)
                if reread:
                    continue  # closed by `finish`: read what is left once more, at once
                if not self._is_running(pod):
                    return  # the container ended: its whole log was read
            with self._lock:
                self._reopening.add(pod)  # until the next stream opens (the open retries with backoff)
                if pod in self._rereads:  # closed by `finish` mid-read: no pause before the re-read
                    self._rereads.discard(pod)
                    continue
            step = min(max(waits + broken, 1), len(REOPEN_BACKOFF_S))
            self._stopped.wait(REOPEN_BACKOFF_S[step - 1])

    def _copy(self, pod: str, stream: PodLogStream) -> None:
        """Pass new lines on, remembering the last one's timestamp as it goes: a stream that
        breaks mid-way resumes from there (`since_time` is inclusive, so older lines are dropped)."""
        resumed_after = self._last.get(pod)
        after = timestamp_key(resumed_after) if resumed_after else None
        for line in stream:
            if after is not None and line.timestamp and timestamp_key(line.timestamp) <= after:
                continue
            if line.timestamp:
                self._last[pod] = line.timestamp
            with self._lock:
                self._reopening.discard(pod)
                self._tails[pod].append(line.text)
            self.lines.put(PodLine(pod, line.text))
