"""ResourceWatch under faults the real apiserver cannot produce on demand: an expired version
(410 as an ERROR event and as an HTTP error), a dropped connection, and stop from another thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from dagster_ext.k8s.client import watching
from dagster_ext.k8s.client.watching import ResourceWatch, WatchSettings


def obj(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": rv}}


class Body:
    def __init__(self, payload: bytes) -> None:
        self.data = payload

    def stream(self, amt: Any = None, decode_content: bool = False) -> Iterator[bytes]:
        yield self.data

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


def lines(*events: dict[str, Any]) -> Body:
    return Body(b"".join(json.dumps(e).encode() + b"\n" for e in events))


class FakeApi:
    """Scripted answers: each call pops the next one (a Body or an exception)."""

    def __init__(self, script: list[Any]) -> None:
        self.script = script
        self.calls: list[dict[str, Any]] = []

    def __call__(self, namespace: str, **kwargs: Any) -> Body:
        self.calls.append(kwargs)
        if not self.script:
            raise AssertionError("unexpected extra request")
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item  # type: ignore[no-any-return]


def make(
    monkeypatch: pytest.MonkeyPatch, script: list[Any], *, initial_list: bool = True
) -> tuple[ResourceWatch, FakeApi]:
    api = FakeApi(script)
    monkeypatch.setattr(watching, "_list_function", lambda _client, _resource: api)
    watch = ResourceWatch(
        None,
        resource="pods",
        namespace="ns",
        settings=WatchSettings(),
        sleep=lambda _s: None,
        initial_list=initial_list,
    )
    return watch, api


def listing(rv: str, *items: dict[str, Any]) -> Body:
    return Body(json.dumps({"metadata": {"resourceVersion": rv}, "items": list(items)}).encode())


def take(watch: ResourceWatch, n: int) -> list[Any]:
    out = []
    for event in watch:
        out.append(event)
        if len(out) == n:
            watch.stop()
    return out


def test_410_error_event_relists(monkeypatch: pytest.MonkeyPatch) -> None:
    watch, api = make(
        monkeypatch,
        [
            listing("10", obj("a", "10")),
            lines({"type": "ADDED", "object": obj("b", "11")}, {"type": "ERROR", "object": {"code": 410}}),
            listing("20", obj("a", "10"), obj("b", "11"), obj("c", "20")),
            lines({"type": "DELETED", "object": obj("a", "21")}),
        ],
    )
    events = take(watch, 4)
    assert [e.type for e in events] == ["SYNC", "ADDED", "SYNC", "DELETED"]
    assert [o["metadata"]["name"] for o in events[2].objects] == ["a", "b", "c"]
    watch_calls = [c for c in api.calls if c.get("watch")]
    assert [c["resource_version"] for c in watch_calls] == ["10", "20"]
    assert all(c["allow_watch_bookmarks"] for c in watch_calls)


def test_410_http_error_relists_and_dropped_connection_resumes(monkeypatch: pytest.MonkeyPatch) -> None:
    watch, api = make(
        monkeypatch,
        [
            listing("5"),
            lines({"type": "BOOKMARK", "object": obj("", "7")}),  # server timeout after a bookmark
            urllib3.exceptions.ProtocolError("connection reset"),
            ApiException(status=410, reason="Gone"),
            listing("9", obj("x", "9")),
            lines({"type": "MODIFIED", "object": obj("x", "12")}),
        ],
    )
    events = take(watch, 3)
    assert [e.type for e in events] == ["SYNC", "SYNC", "MODIFIED"]
    watch_versions = [c["resource_version"] for c in api.calls if c.get("watch")]
    # resumed from the bookmark's version after the timeout and after the reset; relisted after 410
    assert watch_versions == ["5", "7", "7", "9"]


def test_forbidden_repeats_then_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    forbidden = [ApiException(status=403, reason="Forbidden") for _ in range(5)]
    watch, _ = make(monkeypatch, forbidden)
    with pytest.raises(Exception, match="403"):
        list(watch)


def test_stop_from_another_thread_ends_iteration(monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()

    class Socket:
        def shutdown(self, how: int) -> None:
            gate.set()

    class Connection:
        sock = Socket()

    class Blocking(Body):
        connection = Connection()

        def stream(self, amt: Any = None, decode_content: bool = False) -> Iterator[bytes]:
            gate.wait(5)
            raise urllib3.exceptions.ProtocolError("connection shut down")

    watch, _ = make(monkeypatch, [listing("1"), Blocking(b"")])
    seen: list[str] = []
    thread = threading.Thread(target=lambda: seen.extend(e.type for e in watch))
    thread.start()
    while not seen or watch._response is None:  # the watch request is in flight
        threading.Event().wait(0.01)
    watch.stop()
    thread.join(5)
    assert gate.is_set(), "stop() did not shut the socket down"
    assert not thread.is_alive() and seen == ["SYNC"]


def test_without_initial_list_the_first_watch_has_no_version(monkeypatch: pytest.MonkeyPatch) -> None:
    watch, api = make(
        monkeypatch,
        [
            lines({"type": "ADDED", "object": obj("a", "3")}),  # existing object, reported as ADDED
            lines({"type": "MODIFIED", "object": obj("a", "4")}),
        ],
        initial_list=False,
    )
    events = take(watch, 2)
    assert [e.type for e in events] == ["ADDED", "MODIFIED"]
    assert "resource_version" not in api.calls[0] and api.calls[0]["watch"]
    assert api.calls[1]["resource_version"] == "3"  # resumed, no list


def test_without_initial_list_a_versionless_gap_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    # The first watch ends before any event or bookmark: resuming "from nothing" could miss a
    # deletion, so the next pass lists; after a 410 it lists too.
    watch, api = make(
        monkeypatch,
        [lines(), listing("8", obj("a", "8")), ApiException(status=410, reason="Gone"), listing("9")],
        initial_list=False,
    )
    events = take(watch, 2)
    assert [e.type for e in events] == ["SYNC", "SYNC"]
    assert [bool(c.get("watch")) for c in api.calls][:4] == [True, False, True, False]


def test_server_timeouts_are_spread_between_one_and_two_times_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    watch, api = make(monkeypatch, [lines() for _ in range(30)])
    for _ in range(30):
        list(watch._stream("1"))
    base = WatchSettings().server_timeout_s
    timeouts = [call["timeout_seconds"] for call in api.calls]
    assert base >= 300  # as client-go: few reconnects per run
    assert all(base <= t <= 2 * base for t in timeouts) and len(set(timeouts)) > 1
    # Bookmarks (about one a minute from kube-apiserver) keep a healthy quiet watch from going silent
    # for longer than the inactivity timeout, which is well under the server timeout.
    assert all(call["allow_watch_bookmarks"] is True for call in api.calls)
    assert 2 * 60 <= WatchSettings().inactivity_timeout_s <= 3 * 60


def test_throttled_reconnect_waits_at_least_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 429 from API priority and fairness names how long to wait; reconnecting sooner is rejected
    again. The backoff applies when it is longer; the pause is capped by the retry policy."""
    throttled = ApiException(status=429, reason="Too Many Requests")
    throttled.headers = {"Retry-After": "3"}
    long_ask = ApiException(status=429, reason="Too Many Requests")
    long_ask.headers = {"Retry-After": "600"}
    api = FakeApi(
        [
            throttled,
            urllib3.exceptions.ProtocolError("reset"),
            long_ask,
            lines({"type": "ADDED", "object": obj("a", "1")}),
        ]
    )
    monkeypatch.setattr(watching, "_list_function", lambda _client, _resource: api)
    pauses: list[float] = []
    watch = ResourceWatch(None, resource="pods", namespace="ns", sleep=pauses.append, initial_list=False)
    assert [e.type for e in take(watch, 1)] == ["ADDED"]
    settings = WatchSettings()
    assert pauses == [3.0, settings.reconnect_backoff_s[1], settings.policy.max_retry_after_s]
