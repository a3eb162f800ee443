"""A fault-injecting TCP proxy (toxiproxy) between a client under test and the API server.

Connections are reset, slowed and blackholed on the wire, so the client's real socket, TLS and HTTP
code meets the fault, not a monkeypatched exception. The server is built from the Go module proxy
on first use and cached beside the cluster binaries (as `helm` is); it listens on loopback only,
and so do its proxies. The API server's certificate names 127.0.0.1, so a kubeconfig whose server is
the proxy's loopback address verifies as usual (`kubeconfig_via`).

    with Toxiproxy.start() as toxi:
        proxy = toxi.proxy("apiserver", upstream="10.0.0.1:6443")
        with proxy.toxic("timeout", timeout=0):   # blackhole until the block ends
            ...
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import yaml

from dagster_ext.testing._procs import free_port, stop_process_group, wait_for_port
from dagster_ext.testing.cluster.errors import ClusterError
from dagster_ext.testing.cluster.gotools import GoTool, ensure_go_tool

TOXIPROXY_VERSION = "v2.12.0"
TOXIPROXY_ENV = "DAGSTER_EXT_TOXIPROXY"
"""Environment variable naming a prebuilt toxiproxy-server executable; skips the cache and the build."""
LOOPBACK = "127.0.0.1"


def ensure_toxiproxy(version: str = TOXIPROXY_VERSION) -> Path:
    """A toxiproxy-server of `version`, built with `go install` when it is not cached."""
    return ensure_go_tool(
        GoTool(
            name="toxiproxy",
            package="github.com/Shopify/toxiproxy/v2/cmd/server",
            version=version,
            override_env=TOXIPROXY_ENV,
            executable="toxiproxy-server",
        )
    )


class ToxiproxyError(ClusterError):
    """The toxiproxy server did not start or refused a request."""


@dataclass(frozen=True)
class Proxy:
    """One proxy: clients connect to `listen` (host:port on loopback), it forwards to `upstream`."""

    server: Toxiproxy
    name: str
    listen: str

    def add_toxic(self, kind: str, *, stream: str = "downstream", **attributes: Any) -> str:
        """Add a toxic to every connection, current and new; returns its name."""
        name = f"{kind}_{stream}"
        body = {"name": name, "type": kind, "stream": stream, "toxicity": 1.0, "attributes": attributes}
        self.server.request("POST", f"/proxies/{self.name}/toxics", body)
        return name

    def remove_toxic(self, name: str) -> None:
        self.server.request("DELETE", f"/proxies/{self.name}/toxics/{name}")

    @contextmanager
    def toxic(self, kind: str, *, stream: str = "downstream", **attributes: Any) -> Iterator[str]:
        """The toxic while the block runs. Kinds used here: `latency` (latency=ms, jitter=ms),
        `reset_peer` (timeout=ms, then TCP RST), `timeout` (timeout=ms then close; 0 = blackhole)."""
        name = self.add_toxic(kind, stream=stream, **attributes)
        try:
            yield name
        finally:
            self.remove_toxic(name)


class Toxiproxy:
    """A toxiproxy server on a free loopback port; `stop()` (or leaving `with`) ends it."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self._process = process
        self.api = f"http://{LOOPBACK}:{port}"

    @classmethod
    def start(cls, *, log_path: Path | None = None, timeout_s: float = 30.0) -> Toxiproxy:
        binary = ensure_toxiproxy()
        port = free_port()
        log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
        process = subprocess.Popen(
            [str(binary), "-host", LOOPBACK, "-port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not wait_for_port(port, timeout_s=timeout_s, proc=process):
            stop_process_group(process, grace_s=1)
            raise ToxiproxyError(f"toxiproxy-server did not listen on {LOOPBACK}:{port} within {timeout_s}s")
        return cls(process, port)

    def __enter__(self) -> Toxiproxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        stop_process_group(self._process, grace_s=5)

    def proxy(self, name: str, *, upstream: str) -> Proxy:
        """A new proxy from a free loopback port to `upstream` (host:port)."""
        body = {"name": name, "listen": f"{LOOPBACK}:0", "upstream": upstream, "enabled": True}
        created = self.request("POST", "/proxies", body)
        return Proxy(self, name, str(created["listen"]))

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.api + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                payload = response.read()
        except urllib.error.HTTPError as err:
            raise ToxiproxyError(f"toxiproxy {method} {path}: {err.code} {err.read()[:300]!r}") from err
        return json.loads(payload) if payload else None


def upstream_of(server_url: str) -> str:
    """host:port of an https URL (the API server's, for `Toxiproxy.proxy`)."""
    parts = urlsplit(server_url)
    return f"{parts.hostname}:{parts.port or 443}"


def kubeconfig_via(kubeconfig: Path, proxy: Proxy, out: Path) -> Path:
    """A copy of `kubeconfig` whose clusters are reached through `proxy` (same CA and user)."""
    document = yaml.safe_load(kubeconfig.read_text())
    for cluster in document["clusters"]:
        cluster["cluster"]["server"] = f"https://{proxy.listen}"
    out.write_text(yaml.safe_dump(document))
    out.chmod(0o600)
    return out
