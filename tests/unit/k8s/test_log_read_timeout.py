"""A follow request that goes silent (a blackholed connection, or just a quiet container) ends by
its read timeout and is reopened from the last line's timestamp; the lines it already passed on
are dropped, so every line arrives once, in order. Against a real HTTP server on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes import client

from dagster_ext.k8s.client.log_streaming import LogLine, PodLogStream, new_lines

ONE = b"2026-11-22T05:00:01.5Z one\n"
TWO = b"2026-11-22T05:00:02.5Z two\n"
THREE = b"2026-11-22T05:00:03.5Z three\n"


class _StallingHandler(BaseHTTPRequestHandler):
    """First request: two lines, then silence on an open connection. Later: the log from sinceTime."""

    protocol_version = "HTTP/1.1"
    seen: list[str] = []
    release = threading.Event()

    def do_GET(self) -> None:
        self.seen.append(self.path)
        first = len(self.seen) == 1
        body = ONE + TWO if first else TWO + THREE  # sinceTime is inclusive: TWO comes again
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        if first:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(body), body))
            self.wfile.flush()
            self.release.wait(20)  # silent, never closed: a blackhole
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def api_client() -> Iterator[client.ApiClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StallingHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    config = client.Configuration()
    config.host = f"http://127.0.0.1:{server.server_address[1]}"
    api = client.ApiClient(config)
    try:
        yield api
    finally:
        _StallingHandler.release.set()
        api.close()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.timeout(30)
def test_a_silent_follow_request_is_reopened_from_the_last_line_without_repeats(
    api_client: client.ApiClient,
) -> None:
    _StallingHandler.seen = []
    _StallingHandler.release.clear()
    stream = PodLogStream(api_client, namespace="ns", pod="p", read_timeout_s=0.5)
    started = time.monotonic()
    lines = list(stream)
    assert time.monotonic() - started < 20, "the silent connection was not given up"
    assert [line.text for line in lines] == ["one", "two", "three"]
    assert stream.resumes == 1
    first, second = (parse_qs(urlsplit(path).query) for path in _StallingHandler.seen)
    assert "sinceTime" not in first
    assert second["sinceTime"] == ["2026-11-22T05:00:02.5Z"]


def test_new_lines_drops_lines_at_or_before_the_resume_point() -> None:
    lines = [
        LogLine("2026-11-22T05:00:00.09Z", "a"),
        LogLine("2026-11-22T05:00:00.1Z", "b"),
        LogLine("", "c"),
    ]
    assert list(new_lines(iter(lines), after=None)) == lines
    assert [x.text for x in new_lines(iter(lines), after="2026-11-22T05:00:00.09Z")] == ["b", "c"]
    assert [x.text for x in new_lines(iter(lines), after="2026-11-22T05:00:00.1Z")] == ["c"]
