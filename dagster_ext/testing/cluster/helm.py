"""The `helm` binary for the deployment tests, built from the Go module proxy and cached per version.

Users deploy with the official Dagster chart, so the tests render and install it with the real helm
rather than a reimplementation of its templating. Same cache and lock as the cluster binaries.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from dagster_ext.testing.cluster.binaries import build_lock, cache_root, go_binary, stderr_progress
from dagster_ext.testing.cluster.errors import BinaryBuildError

HELM_VERSION = "v3.22.0"
HELM_ENV = "DAGSTER_EXT_HELM"
"""Environment variable naming a prebuilt helm executable; skips the cache and the build."""


def ensure_helm(version: str = HELM_VERSION) -> Path:
    """Return a helm executable of `version`, building it with `go install` when it is not cached."""
    override = os.environ.get(HELM_ENV)
    if override:
        if not os.access(override, os.X_OK):
            raise BinaryBuildError(f"${HELM_ENV}={override} is not an executable")
        return Path(override)
    root = cache_root() / f"helm-{version}"
    binary = root / "helm"
    if os.access(binary, os.X_OK):
        return binary
    root.parent.mkdir(parents=True, exist_ok=True)
    with build_lock(root.parent / f".helm-{version}.lock"):
        if not os.access(binary, os.X_OK):  # another process may have built it while we waited
            _build(version, root)
    return binary


def _build(version: str, target: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix=f".build-helm-{version}-", dir=target.parent))
    try:
        stderr_progress(f"building helm {version} from Go modules (a few minutes on first run)")
        env = {**os.environ, "CGO_ENABLED": "0", "GOBIN": str(work / "bin"), "GOFLAGS": "-trimpath"}
        ldflags = f"-s -w -X helm.sh/helm/v3/internal/version.version={version}"
        result = subprocess.run(
            [go_binary(), "install", "-ldflags", ldflags, f"helm.sh/helm/v3/cmd/helm@{version}"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
            raise BinaryBuildError(f"go install helm {version} failed (exit {result.returncode}):\n{tail}")
        if target.exists():
            shutil.rmtree(target)
        os.replace(work / "bin", target)  # atomic: readers see the binary or nothing
    finally:
        shutil.rmtree(work, ignore_errors=True)
