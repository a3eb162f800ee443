"""List-then-watch over one resource kind, resilient to disconnects and expired versions.

Layers, as in kopf: an outer loop reconnects with backoff; each pass lists (yielding a `SYNC`
snapshot the consumer replaces its cache with) and then watches from the list's resourceVersion
with bookmarks and a server-side timeout; a 410 Gone forces a fresh list. Sleep, randomness and
the stop signal are injectable so tests can drive every branch without real waiting.

A consumer that knows its selection starts empty (a new run's step K8s Jobs) can skip the first
list (`initial_list=False`): a watch without a resourceVersion starts at the newest state and
reports whatever exists as ADDED, one request instead of two. Later gaps still list.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from dagster_ext.k8s.client._raw import JsonDict, batch_api, core_api, parse
from dagster_ext.k8s.client.errors import K8sApiError, K8sGone, translate
from dagster_ext.k8s.client.retrying import RetryPolicy

Resource = Literal["jobs", "pods", "events"]
EventType = Literal["SYNC", "ADDED", "MODIFIED", "DELETED"]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchSettings:
    # Server ends each watch after a random time in [server_timeout_s, 2 x server_timeout_s] (as
    # client-go does: spreads reconnects); we then re-watch from the last resourceVersion.
    server_timeout_s: int = 300
    # Client read timeout: how long a silently dead connection goes unnoticed. Every watch asks for
    # bookmarks, which kube-apiserver sends about once a minute even when nothing changes, so a
    # healthy quiet watch is never silent for 150 s; a cut one only reconnects from its version.
    inactivity_timeout_s: float = 150.0
    # Pauses between reconnects after consecutive failures; the last value repeats forever.
    reconnect_backoff_s: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0, 5.0)
    # Failures that are not transient (403, 404, 400) end the watch unless they stop repeating.
    fatal_after_attempts: int = 5
    policy: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True)
class WatchEvent:
    type: EventType
    object: JsonDict | None = None
    # For SYNC: the complete current list, which replaces whatever the consumer had cached.
    objects: tuple[JsonDict, ...] = ()


def _list_function(api_client: Any, resource: Resource) -> Callable[..., Any]:
    if resource == "jobs":
        return batch_api(api_client).list_namespaced_job  # type: ignore[no-any-return]
    core = core_api(api_client)
    if resource == "pods":
        return core.list_namespaced_pod  # type: ignore[no-any-return]
    return core.list_namespaced_event  # type: ignore[no-any-return]


def _unblock_reader(response: Any) -> None:
    """Make a read blocked in another thread on `response` return now.

    `close()` alone does not: it waits for the buffered reader's lock, which the blocked read holds
    until the next watch event, bookmark or server timeout (up to `server_timeout_s`). A socket
    shutdown wakes that read with end-of-stream. The plain-socket shutdown leaves the TLS state to
    the reading thread.
    """
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class ResourceWatch:
    """Iterate events of one resource kind in one namespace until `stop()` is called."""

    def __init__(
        self,
        api_client: Any,
        *,
        resource: Resource,
        namespace: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        settings: WatchSettings | None = None,
        sleep: Callable[[float], None] | None = None,
        initial_list: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self._list = _list_function(api_client, resource)
        self._initial_list = initial_list
        self._rng = rng or random.Random()
        self._namespace = namespace
        self._selectors = {
            k: v for k, v in (("label_selector", label_selector), ("field_selector", field_selector)) if v
        }
        self._settings = settings or WatchSettings()
        self._stopped = threading.Event()
        self._sleep = sleep or self._interruptible_sleep
        self._response: Any = None
        self.reconnects = 0
        """Watch or list requests that failed and were retried (for logs and tests)."""
        self.description = f"{resource} in {namespace} {label_selector or ''} {field_selector or ''}".strip()

    def _interruptible_sleep(self, seconds: float) -> None:
        self._stopped.wait(seconds)

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def stop(self) -> None:
        """Stop from any thread. The blocked read is woken by shutting its socket down: closing
        the response from another thread would block on the reader's buffer lock."""
        self._stopped.set()
        response = self._response
        sock = getattr(getattr(response, "connection", None), "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _list_snapshot(self) -> tuple[str, WatchEvent]:
        listing = parse(
            self._list(
                self._namespace,
                _preload_content=False,
                _request_timeout=self._settings.policy.request_timeout_s,
                **self._selectors,
            )
        )
        version = str((listing.get("metadata") or {}).get("resourceVersion") or "")
        return version, WatchEvent("SYNC", objects=tuple(listing.get("items") or ()))

    def _stream(self, version: str | None) -> Iterator[tuple[str | None, WatchEvent | None]]:
        """One watch request, parsed line by line ourselves: the client's `Watch.stream` mangles
        ERROR events when not deserialising, which would hide a 410 Gone. Without `version` the
        server starts at its newest state and sends what exists as ADDED events."""
        import json

        from kubernetes.client.exceptions import ApiException
        from kubernetes.watch.watch import iter_resp_lines

        since = {"resource_version": version} if version else {}
        timeout_s = self._settings.server_timeout_s
        response = self._list(
            self._namespace,
            watch=True,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_s + self._rng.randrange(timeout_s + 1),
            _request_timeout=self._settings.inactivity_timeout_s,
            _preload_content=False,
            **since,
            **self._selectors,
        )
        self._response = response
        try:
            for line in iter_resp_lines(response):
                if not line or not line.strip():
                    continue
                raw = json.loads(line)
                kind = raw.get("type")
                obj = raw.get("object") or {}
                if kind == "ERROR":
                    status = int(obj.get("code") or 500)
                    raise ApiException(status=status, reason=str(obj.get("message") or ""))
                version = str((obj.get("metadata") or {}).get("resourceVersion") or "") or version
                yield version, (WatchEvent(kind, obj) if kind in ("ADDED", "MODIFIED", "DELETED") else None)
                if self._stopped.is_set():
                    return
        finally:
            self._response = None
            response.close()
            response.release_conn()

    def __iter__(self) -> Iterator[WatchEvent]:
        version: str | None = None
        must_list = self._initial_list
        failures = 0
        while not self._stopped.is_set():
            try:
                if version is None and must_list:
                    version, snapshot = self._list_snapshot()
                    yield snapshot
                for new_version, event in self._stream(version):
                    version = new_version
                    failures = 0
                    if event is not None:
                        yield event
                # A watch that never learnt a version cannot resume without missing deletions.
                must_list = True
            except Exception as raw:
                if self._stopped.is_set():
                    return
                err = translate(raw, operation=f"watch {self.description}")
                if isinstance(err, K8sGone):
                    version, must_list = None, True  # too old: list again
                    continue
                failures += 1
                self.reconnects += 1
                if not self._settings.policy.should_retry(err) and (
                    failures >= self._settings.fatal_after_attempts
                ):
                    raise err from raw
                pause = self._reconnect_pause_s(failures, err)
                log.debug(
                    "watch %s failed (%s); reconnect in %.2fs",
                    self.description,
                    err,
                    pause,
                    extra={"k8s_status": err.status, "retry_after_s": err.retry_after_s, "pause_s": pause},
                )
                self._sleep(pause)

    def _reconnect_pause_s(self, failures: int, err: K8sApiError) -> float:
        """The reconnect backoff, or the server's Retry-After when longer (a 429 from API priority
        and fairness): reconnecting sooner would only be rejected again and deepen the throttling."""
        backoff = self._settings.reconnect_backoff_s
        pause = backoff[min(failures, len(backoff)) - 1]
        if err.retry_after_s is not None:
            pause = max(pause, min(err.retry_after_s, self._settings.policy.max_retry_after_s))
        return pause
