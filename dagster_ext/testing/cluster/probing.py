"""Readiness probes against the local control plane, over plain HTTP(S).

Start-up polls a handful of URLs; the standard library does that without the weight of the Kubernetes
client (which `dagster-ext cluster status` should not have to import). Every wait also watches the
processes, so a component that dies is reported at once with its log instead of after a timeout.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dagster_ext.testing.cluster.errors import ComponentStartError
from dagster_ext.testing.cluster.processes import Component


@dataclass(frozen=True)
class ApiProbe:
    """GETs against the apiserver as one token user, verifying its cert with our CA."""

    server_url: str
    ca_cert: Path
    token: str

    def get(self, path: str, *, timeout_s: float = 2.0) -> tuple[int, dict[str, object]]:
        """(HTTP status, JSON body or {}); status 0 when the server cannot be reached."""
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        request = urllib.request.Request(
            self.server_url + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s, context=context) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as err:
            return err.code, _json(err.read())
        except (OSError, ssl.SSLError):
            return 0, {}

    def ok(self, path: str) -> bool:
        return self.get(path)[0] == 200

    def node_ready(self, name: str) -> bool:
        status, body = self.get(f"/api/v1/nodes/{name}")
        if status != 200:
            return False
        conditions = body.get("status", {})
        assert isinstance(conditions, dict)
        for condition in conditions.get("conditions") or []:
            if condition.get("type") == "Ready":
                return bool(condition.get("status") == "True")
        return False


def _json(raw: bytes) -> dict[str, object]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def http_ok(url: str, *, timeout_s: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


def wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    blame: Component,
    watch: Sequence[Component],
    timeout_s: float,
    interval_s: float = 0.1,
) -> None:
    """Poll `check` until true; fail fast if a watched process exits, else after `timeout_s`.

    `blame` is the component whose log explains a timeout (e.g. the kubelet for "Node Ready").
    """
    deadline = time.monotonic() + timeout_s
    while True:
        for component in watch:
            if component.exited():
                code = component.process.returncode
                raise ComponentStartError(
                    component.name,
                    f"exited with code {code} while waiting for {what}",
                    log_path=component.log_path,
                )
        if check():
            return
        if time.monotonic() > deadline:
            raise ComponentStartError(
                blame.name, f"{what} not reached in {timeout_s:.0f}s", log_path=blame.log_path
            )
        time.sleep(interval_s)
