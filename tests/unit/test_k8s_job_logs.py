"""Live log following for `execute_k8s_job`: line parsing, and resuming a broken stream without
repeating or losing lines (a dropped connection mid-log is a fault the real server cannot be made
to produce on demand, so the gateway is a fake here)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from dagster_ext.k8s.client import K8sUnavailable
from dagster_ext.k8s.client.errors import K8sBadRequest
from dagster_ext.k8s.client.log_streaming import LogLine, parse_log_line, split_lines
from dagster_ext.k8s.k8s_job.log_pump import LogPump, timestamp_key


def test_parse_log_line_splits_the_kubelet_timestamp() -> None:
    assert parse_log_line("2026-11-22T05:00:00.123456789Z hello world") == LogLine(
        "2026-11-22T05:00:00.123456789Z", "hello world"
    )
    assert parse_log_line("2026-11-22T05:00:01Z ") == LogLine("2026-11-22T05:00:01Z", "")
    assert parse_log_line("no timestamp here") == LogLine("", "no timestamp here")


def test_split_lines_across_chunks_keeps_a_last_line_without_newline() -> None:
    chunks = iter([b"fir", b"st\nsec", b"ond\r\n", "caf\u00e9".encode()[:4], "caf\u00e9".encode()[4:]])
    assert list(split_lines(chunks)) == ["first", "second", "caf\u00e9"]


def test_timestamp_order_survives_trimmed_fractions() -> None:
    # Go's RFC3339Nano trims trailing zeros: as strings ".1Z" sorts after ".12Z"
    assert timestamp_key("2026-11-22T05:00:00.1Z") > timestamp_key("2026-11-22T05:00:00.09Z")
    assert timestamp_key("2026-11-22T05:00:01Z") > timestamp_key("2026-11-22T05:00:00.999999999Z")


class FakeStream:
    def __init__(self, lines: list[LogLine], error: Exception | None) -> None:
        self._lines, self._error = lines, error

    def __iter__(self) -> Iterator[LogLine]:
        yield from self._lines
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        pass


class FakeGateway:
    """Each `follow_pod_log` call returns the next scripted stream and records `since_time`."""

    def __init__(self, streams: list[FakeStream]) -> None:
        self.streams = streams
        self.since: list[str | None] = []

    def follow_pod_log(self, *, namespace: str, pod: str, container: str, since_time: str | None) -> Any:
        self.since.append(since_time)
        return self.streams.pop(0)


def ts(second: int) -> str:
    return f"2026-11-22T05:00:{second:02d}.5Z"


def drain(pump: LogPump) -> list[str]:
    lines = []
    while not pump.lines.empty():
        lines.append(pump.lines.get_nowait().text)
    return lines


def test_a_broken_stream_resumes_after_the_last_line_without_repeating_it() -> None:
    gateway = FakeGateway(
        [
            FakeStream([], K8sBadRequest("waiting to start", status=400)),
            FakeStream([LogLine(ts(1), "one"), LogLine(ts(2), "two")], K8sUnavailable("reset")),
            FakeStream([LogLine(ts(2), "two"), LogLine(ts(3), "three")], None),  # since_time is inclusive
        ]
    )
    running = iter([False])  # after the third stream ends normally, the container has ended
    pump = LogPump(
        gateway,  # type: ignore[arg-type]
        namespace="ns",
        container="dagster",
        is_running=lambda _pod: next(running),
        tail_lines=2,
    )
    pump.follow("pod-1")
    assert pump.wait_finished(timeout_s=10)
    assert drain(pump) == ["one", "two", "three"]
    assert gateway.since == [None, None, ts(2)]
    assert pump.tail("pod-1") == "two\nthree"
    pump.follow("pod-1")  # once per pod
    assert pump.followed() == ["pod-1"]


def test_stream_that_ends_while_the_container_runs_is_reopened() -> None:
    gateway = FakeGateway(
        [FakeStream([LogLine(ts(1), "one")], None), FakeStream([LogLine(ts(4), "later")], None)]
    )
    running = iter([True, False])
    pump = LogPump(
        gateway,  # type: ignore[arg-type]
        namespace="ns",
        container="dagster",
        is_running=lambda _pod: next(running),
    )
    pump.follow("pod-1")
    assert pump.wait_finished(timeout_s=10)
    assert drain(pump) == ["one", "later"]
    assert gateway.since == [None, ts(1)]


class SlowFailingStream(FakeStream):
    """An open that fails only after its retries ran out (the API server is still away)."""

    def __iter__(self) -> Iterator[LogLine]:
        time.sleep(0.6)
        raise K8sUnavailable("connection refused")


def test_finish_waits_for_a_reader_reopening_its_stream_and_loses_no_line() -> None:
    gateway = FakeGateway(
        [
            FakeStream([LogLine(ts(1), "one"), LogLine(ts(2), "two")], K8sUnavailable("reset")),
            SlowFailingStream([], None),
            FakeStream([LogLine(ts(2), "two"), LogLine(ts(3), "three")], None),
        ]
    )
    pump = LogPump(
        gateway,  # type: ignore[arg-type]
        namespace="ns",
        container="dagster",
        is_running=lambda _pod: False,  # the container ended while the API server was away
    )
    pump.follow("pod-1")
    time.sleep(0.1)  # the first stream broke; the reader is reopening
    assert pump.finish(grace_s=0.05, timeout_s=0.05, reconnect_s=30)
    assert drain(pump) == ["one", "two", "three"]
    assert gateway.since == [None, ts(2), ts(2)]


def test_a_log_not_read_to_its_end_says_so() -> None:
    gateway = FakeGateway([FakeStream([LogLine(ts(1), "one")], K8sUnavailable("reset"))])
    gateway.streams += [SlowFailingStream([], None) for _ in range(10)]
    pump = LogPump(gateway, namespace="ns", container="dagster", is_running=lambda _pod: True)  # type: ignore[arg-type]
    pump.follow("pod-1")
    time.sleep(0.1)
    assert not pump.finish(grace_s=0.05, timeout_s=0.05, reconnect_s=0.3)
    lines = drain(pump)
    pump.stop()
    assert lines[0] == "one" and "may be incomplete" in lines[-1]
