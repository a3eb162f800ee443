"""Kubelet settings (from the command line) and the host facts derived from them."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# Host variables a process inherits, standing in for an image's ENV; everything else
# (KUBECONFIG, cloud credentials, …) stays out unless named with --inherit-env.
BASE_ENV_NAMES = (
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "PYTHONPATH",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)


@dataclass(frozen=True)
class KubeletSettings:
    kubeconfig: str
    node_name: str
    port: int
    state_dir: Path
    tls_cert: str
    tls_key: str
    node_labels: Mapping[str, str] = field(default_factory=dict)
    unpullable_image: re.Pattern[str] | None = None
    cpu: str = "64"
    memory_bytes: int | None = None
    pods: int = 110
    memory_mode: str = "auto"
    inherit_env: tuple[str, ...] = ()
    heartbeat_s: float = 10.0
    lease_duration_s: int = 40
    shutdown_grace_s: float = 5.0
    working_dir: str = field(default_factory=os.getcwd)

    @property
    def pods_dir(self) -> Path:
        return self.state_dir / "pods"

    def is_unpullable(self, image: str) -> bool:
        return bool(self.unpullable_image and self.unpullable_image.search(image))


def machine_memory_bytes() -> int:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def base_env(settings: KubeletSettings, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The host environment a container starts from; the kubelet's own interpreter comes first
    on PATH, so `python` in a pod is the Python the kubelet (and the test run) uses."""
    env = {k: environ[k] for k in (*BASE_ENV_NAMES, *settings.inherit_env) if k in environ}
    python_bin = os.path.dirname(sys.executable)
    env["PATH"] = os.pathsep.join([python_bin, *(p for p in env.get("PATH", "").split(os.pathsep) if p)])
    return env


def service_env(host: str, port: int) -> dict[str, str]:
    """The variables of the `kubernetes` Service, pointing at the real API server."""
    return {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": str(port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
        "KUBERNETES_PORT": f"tcp://{host}:{port}",
    }


def _read(path: str) -> str:
    with contextlib.suppress(OSError), open(path) as handle:
        return handle.read().strip()
    return ""


def machine_facts() -> dict[str, str]:
    os_release = dict(line.split("=", 1) for line in _read("/etc/os-release").splitlines() if "=" in line)
    return {
        "machineID": _read("/etc/machine-id"),
        "systemUUID": _read("/sys/class/dmi/id/product_uuid"),
        "bootID": _read("/proc/sys/kernel/random/boot_id"),
        "osImage": os_release.get("PRETTY_NAME", "Linux").strip('"'),
    }
