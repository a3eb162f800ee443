"""The node's image registry: the CNCF Distribution registry, built from the Go module proxy, on loopback.

containerd resolves every registry name to it (see `containerd`), so images behave as on a real
cluster: `imagePullPolicy: Always` pulls, an image that was never pushed fails as ErrImagePull, and
nothing is asked of a host off this machine. Its storage lives in the cache, so images pushed by one
cluster are there for the next.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from dagster_ext.testing.cluster.binaries import build_lock, cache_root, go_binary, go_env
from dagster_ext.testing.cluster.errors import BinaryBuildError

MODULE = "github.com/distribution/distribution/v3/cmd/registry"
VERSION = "v3.1.2"


def ensure_registry_binary() -> Path:
    """Build `registry` once per version (a minute with a cold Go cache)."""
    target_dir = cache_root() / f"registry-{VERSION}"
    binary = target_dir / "registry"
    if os.access(binary, os.X_OK):
        return binary
    target_dir.mkdir(parents=True, exist_ok=True)
    with build_lock(target_dir.parent / f".registry-{VERSION}.lock"):
        if not os.access(binary, os.X_OK):
            env = {**go_env(), "GOBIN": str(target_dir), "GOFLAGS": ""}
            argv = [go_binary(), "install", "-trimpath", "-ldflags=-s -w", f"{MODULE}@{VERSION}"]
            result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise BinaryBuildError(f"go install {MODULE}@{VERSION} failed:\n{result.stderr[-3000:]}")
    return binary


def storage_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dagster-ext" / "registry"


def write_registry_config(path: Path, *, port: int) -> Path:
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage_dir())}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "draintimeout": "1s"},
    }
    storage_dir().mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def registry_args(binary: Path, config: Path) -> list[str]:
    return [str(binary), "serve", str(config)]
