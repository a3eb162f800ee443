"""The kubelet's HTTPS endpoint: `/containerLogs/{ns}/{pod}/{container}` and `/healthz`.

The API server proxies `pods/log` (so `read_namespaced_pod_log` and `kubectl logs -f`) to
`https://<node InternalIP>:<kubeletEndpoint.Port>`. Clients are not authenticated: the server
listens on 127.0.0.1 only. TLS handshakes run in the per-request thread.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from dagster_ext.testing.kubelet import timefmt
from dagster_ext.testing.kubelet.errors import KubeletError
from dagster_ext.testing.kubelet.logfiles import LogOptions, read_log
from dagster_ext.testing.kubelet.podspec import PodKey

log = logging.getLogger(__name__)
_TRUE = ("true", "1", "True")


class LogNotAvailable(KubeletError):
    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _int(query: Mapping[str, Sequence[str]], name: str) -> int | None:
    values = query.get(name)
    if not values or values[0] == "":
        return None
    try:
        return int(values[0])
    except ValueError as err:
        raise LogNotAvailable(f"invalid {name}: {values[0]!r} is not an integer") from err


def parse_log_query(query: Mapping[str, Sequence[str]], now_ns: int) -> tuple[LogOptions, bool]:
    """(options, previous) from the query string the API server forwards."""
    since_ns = None
    if (seconds := _int(query, "sinceSeconds")) is not None:
        since_ns = now_ns - seconds * 1_000_000_000
    elif query.get("sinceTime"):
        try:
            since_ns = timefmt.parse_ns(query["sinceTime"][0])
        except ValueError as err:
            raise LogNotAvailable(f"invalid sinceTime: {query['sinceTime'][0]!r}") from err
    options = LogOptions(
        follow=(query.get("follow") or [""])[0] in _TRUE,
        tail_lines=_int(query, "tailLines"),
        since_ns=since_ns,
        timestamps=(query.get("timestamps") or [""])[0] in _TRUE,
        limit_bytes=_int(query, "limitBytes"),
    )
    return options, (query.get("previous") or [""])[0] in _TRUE


class LogIndex:
    """Where each container's log file is and whether its process is still writing it."""

    def __init__(self, pods_dir: Path) -> None:
        self._pods_dir = pods_dir
        self._lock = threading.Lock()
        self._pods: dict[tuple[str, str], str] = {}  # (namespace, name) -> uid of the newest pod
        self._live: dict[Path, threading.Event] = {}

    def log_path(self, key: PodKey, container: str, restart: int) -> Path:
        return self._pods_dir / key.dirname / "logs" / container / f"{restart}.log"

    def started(self, key: PodKey, container: str, restart: int) -> tuple[Path, threading.Event]:
        path = self.log_path(key, container, restart)
        done = threading.Event()
        with self._lock:
            self._pods[(key.namespace, key.name)] = key.uid
            self._live[path] = done
        return path, done

    def _pod_dir(self, namespace: str, pod: str) -> Path | None:
        with self._lock:
            uid = self._pods.get((namespace, pod))
        if uid:
            return self._pods_dir / PodKey(namespace, pod, uid).dirname
        found = sorted(self._pods_dir.glob(f"{namespace}_{pod}_*"), key=lambda p: p.stat().st_mtime)
        return found[-1] if found else None

    def locate(
        self, namespace: str, pod: str, container: str, *, previous: bool
    ) -> tuple[Path, Callable[[], bool]]:
        pod_dir = self._pod_dir(namespace, pod)
        logs = pod_dir / "logs" / container if pod_dir else None
        runs = sorted((int(p.stem), p) for p in logs.glob("*.log") if p.stem.isdigit()) if logs else []
        if previous:
            if len(runs) < 2:
                raise LogNotAvailable(f'previous terminated container "{container}" in pod "{pod}" not found')
            path = runs[-2][1]
        elif not runs:
            raise LogNotAvailable(
                f'container "{container}" in pod "{pod}" is waiting to start: ContainerCreating'
            )
        else:
            path = runs[-1][1]
        with self._lock:
            done = self._live.get(path)
        return path, (done.is_set if done is not None else lambda: True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("log server: " + format, *args)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        if parts == ["healthz"]:
            self._reply(200, b"ok")
        elif len(parts) == 4 and parts[0] == "containerLogs":
            self._logs(parts[1], parts[2], parts[3], parse_qs(url.query))
        else:
            self._reply(404, b"404 page not found\n")

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _logs(self, namespace: str, pod: str, container: str, query: dict[str, list[str]]) -> None:
        try:
            options, previous = parse_log_query(query, time.time_ns())
            path, finished = self.server.index.locate(namespace, pod, container, previous=previous)
        except LogNotAvailable as err:
            self._reply(err.status, str(err).encode())
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for chunk in read_log(path, options, finished=finished, stopped=self.server.stopping.is_set):
                self.wfile.write(chunk)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            log.debug("log client for %s/%s/%s went away", namespace, pod, container)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext, index: LogIndex) -> None:
        self.context = context
        self.index = index
        self.stopping = threading.Event()
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(30)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as err:
            log.debug("TLS handshake from %s failed: %s", client_address, err)
            return
        tls.settimeout(None)
        super().finish_request(tls, client_address)


class LogServer:
    def __init__(
        self, *, port: int, cert_file: str, key_file: str, index: LogIndex, host: str = "127.0.0.1"
    ) -> None:
        self._address = (host, port)
        self._cert, self._key = cert_file, key_file
        self._index = index
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when constructed with port 0)."""
        return self._server.server_address[1] if self._server else self._address[1]

    def start(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self._cert, self._key)
        self._server = _Server(self._address, context, self._index)
        self._thread = threading.Thread(target=self._server.serve_forever, name="kubelet-logs", daemon=True)
        self._thread.start()
        log.info("serving container logs on https://%s:%d", *self._address)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stopping.set()
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
