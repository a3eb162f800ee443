"""Single-binary Go tools (helm, CoreDNS) built with `go install module@version` and cached per version.

Same cache root and build lock as the cluster binaries: the first call builds (minutes), later calls
find the executable and return at once. A build goes to a temp dir and is renamed into place, so a
parallel test session sees the whole executable or nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dagster_ext.testing.cluster.binaries import build_lock, cache_root, go_binary, stderr_progress
from dagster_ext.testing.cluster.errors import BinaryBuildError


@dataclass(frozen=True)
class GoTool:
    """One executable and the Go package that builds it."""

    name: str
    package: str
    version: str
    override_env: str
    """Environment variable naming a prebuilt executable; skips the cache and the build."""
    ldflags: str = "-s -w"
    executable: str = ""
    """File name in the cache when it differs from `name` (toxiproxy's `cmd/server` → toxiproxy-server)."""

    @property
    def file_name(self) -> str:
        return self.executable or self.name


def ensure_go_tool(tool: GoTool) -> Path:
    """Return the tool's executable, building it when it is not cached."""
    override = os.environ.get(tool.override_env)
    if override:
        if not os.access(override, os.X_OK):
            raise BinaryBuildError(f"${tool.override_env}={override} is not an executable")
        return Path(override)
    root = cache_root() / f"{tool.name}-{tool.version}"
    binary = root / tool.file_name
    if os.access(binary, os.X_OK):
        return binary
    root.parent.mkdir(parents=True, exist_ok=True)
    with build_lock(root.parent / f".{tool.name}-{tool.version}.lock"):
        if not os.access(binary, os.X_OK):  # another process may have built it while we waited
            _build(tool, root)
    return binary


def _build(tool: GoTool, target: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix=f".build-{tool.name}-{tool.version}-", dir=target.parent))
    try:
        stderr_progress(f"building {tool.name} {tool.version} from Go modules (minutes on first run)")
        env = {**os.environ, "CGO_ENABLED": "0", "GOBIN": str(work / "bin"), "GOFLAGS": "-trimpath"}
        argv = [go_binary(), "install", "-ldflags", tool.ldflags, f"{tool.package}@{tool.version}"]
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
            raise BinaryBuildError(
                f"go install {tool.name} {tool.version} failed (exit {result.returncode}):\n{tail}"
            )
        built = work / "bin" / tool.package.rsplit("/", 1)[-1]
        if built.name != tool.file_name:
            built.rename(work / "bin" / tool.file_name)
        if target.exists():
            shutil.rmtree(target)
        os.replace(work / "bin", target)  # atomic: readers see the binary or nothing
    finally:
        shutil.rmtree(work, ignore_errors=True)
