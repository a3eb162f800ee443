"""The log follow request as it goes on the wire, against a real HTTP server on loopback: a
resumed stream asks for `sinceTime` (the generated client has no such parameter, so a resume
through it failed every time, and the lines written since were lost)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes import client

from dagster_ext.k8s.client.log_streaming import LogLine, PodLogStream

BODY = b"2026-11-22T05:00:02.5Z two\n2026-11-22T05:00:03.5Z three\n"


class _Handler(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def api_client() -> Iterator[client.ApiClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    config = client.Configuration()
    config.host = f"http://127.0.0.1:{server.server_address[1]}"
    api = client.ApiClient(config)
    try:
        yield api
    finally:
        api.close()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("since_time", [None, "2026-11-22T05:00:02.5Z"])
def test_the_follow_request_names_container_timestamps_and_since_time(
    api_client: client.ApiClient, since_time: str | None
) -> None:
    _Handler.seen = []
    stream = PodLogStream(api_client, namespace="ns", pod="p", container="dagster", since_time=since_time)
    assert list(stream) == [
        LogLine("2026-11-22T05:00:02.5Z", "two"),
        LogLine("2026-11-22T05:00:03.5Z", "three"),
    ]
    (path,) = _Handler.seen
    url = urlsplit(path)
    assert url.path == "/api/v1/namespaces/ns/pods/p/log"
    # Booleans as the generated client spells them ("True"); the API server's ParseBool takes both.
    query = {
        key: values[0].lower() if values[0] in ("True", "False") else values[0]
        for key, values in parse_qs(url.query).items()
    }
    expected = {"container": "dagster", "follow": "true", "timestamps": "true"}
    assert query == (expected if since_time is None else {**expected, "sinceTime": since_time})
