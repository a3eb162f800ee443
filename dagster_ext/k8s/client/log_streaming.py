"""Follow a container's log while it runs (`GET pods/{name}/log?follow=true&timestamps=true`).

`read_pod_log_tail` in `reading` answers "what were the last lines" after the fact; this module
streams lines as the container writes them, so `execute_k8s_job` can show them in Dagster while
the pod runs. The stream can be closed from another thread (a terminated run must not wait for
the next log line), and every line carries the kubelet's timestamp so a caller that reconnects
after a broken connection can resume with `since_time` and drop lines it already has.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from dagster_ext.k8s.client._raw import core_api
from dagster_ext.k8s.client.errors import translate
from dagster_ext.k8s.client.retrying import DEFAULT_RETRY, RetryPolicy, call_with_retries

CONNECT_TIMEOUT_S = 10.0
# Read (inactivity) timeout of the follow request. A silently dropped connection (no data, no close)
# would otherwise hang the stream until the pod ends; a quiet container is normal, so a timeout is
# not a failure: the stream reopens from its last line's timestamp and drops the lines it has.
READ_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class LogLine:
    """One line of a container's log; `timestamp` is the kubelet's RFC 3339 (nanosecond) time."""

    timestamp: str
    text: str


def parse_log_line(raw: str) -> LogLine:
    """`<RFC3339Nano> <text>` as sent with `timestamps=true`; a line without one keeps ''."""
    head, sep, rest = raw.partition(" ")
    if sep and head[:4].isdigit() and "T" in head:
        return LogLine(head, rest)
    return LogLine("", raw)


def timestamp_key(timestamp: str) -> tuple[str, int]:
    """Order RFC 3339 timestamps whose fractions Go trims (`.1Z` after `.09Z`)."""
    head, _, rest = timestamp.partition(".")
    digits = "".join(ch for ch in rest if ch.isdigit())
    return (head.rstrip("Z"), int((digits + "0" * 9)[:9]) if digits else 0)


def new_lines(lines: Iterator[LogLine], *, after: str | None) -> Iterator[LogLine]:
    """`lines` without those at or before timestamp `after`: `sinceTime` is inclusive, so a
    stream resumed from its last line's timestamp starts with lines it already passed on."""
    key = timestamp_key(after) if after else None
    for line in lines:
        if key is not None and line.timestamp and timestamp_key(line.timestamp) <= key:
            continue
        yield line


def split_lines(chunks: Iterator[bytes]) -> Iterator[str]:
    """Decode a byte stream into lines; a last line without a newline is still yielded."""
    buffer = bytearray()
    for chunk in chunks:
        buffer.extend(chunk)
        while (end := buffer.find(b"\n")) != -1:
            yield buffer[:end].decode("utf-8", errors="replace").rstrip("\r")
            del buffer[: end + 1]
    if buffer:
        yield buffer.decode("utf-8", errors="replace")


class PodLogStream:
    """Lines of one container's log, from `since_time` (or the start) until the container ends.

    Opening raises `K8sBadRequest` (400) while the container is still waiting to start, and
    `K8sNotFound` when the pod is gone; both are the caller's cue to try again later or stop.
    """

    def __init__(
        self,
        api_client: Any,
        *,
        namespace: str,
        pod: str,
        container: str = "dagster",
        since_time: str | None = None,
        policy: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] | None = None,
        read_timeout_s: float = READ_TIMEOUT_S,
    ) -> None:
        self._core = core_api(api_client)
        self._namespace = namespace
        self._pod = pod
        self._container = container
        self._since_time = since_time
        self._policy = policy
        self._sleep = sleep
        self._read_timeout_s = read_timeout_s
        self._last_timestamp: str | None = None  # of the last line yielded, for a resume
        self.resumes = 0
        """Follow requests reopened after a read timeout (for logs and tests)."""
        self._response: Any = None
        self._closed = False
        self.description = f"log of {namespace}/{pod}/{container}"

    def _open(self) -> Any:
        kwargs = {"sleep": self._sleep} if self._sleep is not None else {}
        return call_with_retries(
            lambda _attempt: self._request(),
            operation=f"follow {self.description}",
            policy=self._policy,
            **kwargs,
        )

    def _request(self) -> Any:
        """`GET pods/<pod>/log?follow=true&timestamps=true[&sinceTime=...]`, unread. Through
        `call_api`: the generated `read_namespaced_pod_log` has no `sinceTime` parameter, and
        resuming from a line's own timestamp (not a `sinceSeconds` guess) is what keeps a resumed
        stream from losing or repeating lines."""
        query: list[tuple[str, Any]] = [
            ("container", self._container),
            ("follow", True),
            ("timestamps", True),
        ]
        since_time = self._last_timestamp or self._since_time
        if since_time:
            query.append(("sinceTime", since_time))
        api_client = self._core.api_client
        return api_client.call_api(
            "/api/v1/namespaces/{namespace}/pods/{name}/log",
            "GET",
            {"namespace": self._namespace, "name": self._pod},
            query,
            {"Accept": api_client.select_header_accept(["text/plain", "application/json"])},
            response_types_map={200: "str"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
            _preload_content=False,
            _request_timeout=(CONNECT_TIMEOUT_S, self._read_timeout_s),
        )

    def __iter__(self) -> Iterator[LogLine]:
        import urllib3.exceptions

        while not self._closed:
            try:
                yield from self._follow_once()
                return
            except urllib3.exceptions.ReadTimeoutError:
                if self._closed:
                    return
                self.resumes += 1  # quiet or silently dropped: reopen from the last line

    def _follow_once(self) -> Iterator[LogLine]:
        """One follow request; raises `ReadTimeoutError` when nothing arrived for the read timeout."""
        import urllib3.exceptions

        response = self._response = self._open()
        try:
            raw_lines = split_lines(response.stream(amt=None, decode_content=False))
            parsed = (parse_log_line(raw) for raw in raw_lines)
            for line in new_lines(parsed, after=self._last_timestamp):
                if self._closed:
                    return
                if line.timestamp:
                    self._last_timestamp = line.timestamp
                yield line
        except urllib3.exceptions.ReadTimeoutError:
            raise
        except Exception as err:
            if self._closed:  # our own close() woke the read: a normal end
                return
            raise translate(err, operation=f"follow {self.description}") from err
        finally:
            self._response = None
            with contextlib.suppress(Exception):
                response.release_conn()

    def close(self) -> None:
        """Stop from any thread: a read blocked waiting for the next line returns at once
        (shutting the socket down, as `ResourceWatch.stop` does; closing would wait on the
        reader's buffer lock)."""
        self._closed = True
        sock = getattr(getattr(self._response, "connection", None), "sock", None)
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
