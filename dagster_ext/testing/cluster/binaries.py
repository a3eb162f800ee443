"""The Kubernetes binaries of the local cluster, built from Go modules and cached per version.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kube-proxy.

There is no Docker here, so no kind and no release tarballs; the Go module proxy is reachable, so we build
the control plane from source with the wrapper module in `gomod/` (go.mod + go.sum pin every module).
The first build takes minutes; later calls find the binaries in the cache and return at once.
Builds are atomic (temp dir, then rename) and serialised by a file lock, so parallel test sessions
never see a half-written binary.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dagster_ext.testing.cluster.errors import BinaryBuildError

GOMOD_DIR = Path(__file__).parent / "gomod"
BIN_DIR_ENV = "DAGSTER_EXT_K8S_BIN_DIR"
"""Environment variable naming a directory of prebuilt binaries; skips the cache and the build."""

_TARGETS = {
    "etcd": "./cmd/etcd",
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "kubelet": "k8s.io/kubernetes/cmd/kubelet",
    "kube-proxy": "k8s.io/kubernetes/cmd/kube-proxy",
}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BinaryPaths:
    """Where the cluster's executables are."""

    version: str
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubelet: Path
    kube_proxy: Path

    @classmethod
    def in_dir(cls, directory: Path, version: str) -> BinaryPaths:
        return cls(
            version=version,
            etcd=directory / "etcd",
            kube_apiserver=directory / "kube-apiserver",
            kube_controller_manager=directory / "kube-controller-manager",
            kube_scheduler=directory / "kube-scheduler",
            kubelet=directory / "kubelet",
            kube_proxy=directory / "kube-proxy",
        )

    def missing(self) -> list[Path]:
        paths = (
            self.etcd,
            self.kube_apiserver,
            self.kube_controller_manager,
            self.kube_scheduler,
            self.kubelet,
            self.kube_proxy,
        )
        return [p for p in paths if not os.access(p, os.X_OK)]


def pinned_version() -> str:
    """The Kubernetes version `gomod/go.mod` requires: the only one we can build."""
    match = re.search(r"^\s*k8s\.io/kubernetes (v\S+)", (GOMOD_DIR / "go.mod").read_text(), re.M)
    if match is None:
        raise BinaryBuildError(f"{GOMOD_DIR / 'go.mod'} does not require k8s.io/kubernetes")
    return match.group(1)


def cache_root() -> Path:
    """`$XDG_CACHE_HOME/dagster-ext/k8s-bin`, defaulting to `~/.cache/dagster-ext/k8s-bin`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dagster-ext" / "k8s-bin"


def stderr_progress(line: str) -> None:
    print(f"[dagster-ext k8s-bin] {line}", file=sys.stderr, flush=True)


def ensure_binaries(version: str | None = None, *, progress: Progress = stderr_progress) -> BinaryPaths:
    """Return the binaries for `version` (default: the pinned one), building them when missing."""
    version = version or pinned_version()
    override = os.environ.get(BIN_DIR_ENV)
    if override:
        return _checked(BinaryPaths.in_dir(Path(override), version), f"${BIN_DIR_ENV}={override}")
    root = cache_root()
    paths = BinaryPaths.in_dir(root / version, version)
    if not paths.missing():
        return paths
    if version != pinned_version():
        raise BinaryBuildError(
            f"no cached binaries for Kubernetes {version} in {root / version}, and gomod/ builds only "
            f"{pinned_version()}: use that version or set ${BIN_DIR_ENV} to prebuilt binaries"
        )
    root.mkdir(parents=True, exist_ok=True)
    with build_lock(root / f".{version}.lock"):
        if paths.missing():  # another process may have built them while we waited
            _build(version, root, progress)
    return _checked(paths, str(root / version))


def _checked(paths: BinaryPaths, where: str) -> BinaryPaths:
    missing = paths.missing()
    if missing:
        raise BinaryBuildError(f"{where}: missing executables {', '.join(p.name for p in missing)}")
    return paths


@contextmanager
def build_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def go_binary() -> str:
    found = shutil.which("go")
    if found is None:
        raise BinaryBuildError(
            "the Go toolchain (`go`, 1.23 or newer) is needed once to build the Kubernetes control plane; "
            f"install it, or set ${BIN_DIR_ENV} to a directory holding "
            f"{', '.join(_TARGETS)}"
        )
    return found


def go_env() -> dict[str, str]:
    """Static, reproducible builds with the local toolchain and the pinned module graph only."""
    flags = " ".join(f for f in os.environ.get("GOFLAGS", "").split() if not f.startswith("-mod="))
    return {
        **os.environ,
        "CGO_ENABLED": "0",
        "GOTOOLCHAIN": "local",
        "GOFLAGS": f"{flags} -mod=readonly".strip(),
    }


def ldflags(version: str) -> str:
    """Strip symbols and stamp the version, as Kubernetes' own build does (`hack/lib/version.sh`)."""
    major, minor = version.lstrip("v").split(".")[:2]
    stamps = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        stamps += [f"-X {pkg}.gitVersion={version}", f"-X {pkg}.gitMajor={major}"]
        stamps += [f"-X {pkg}.gitMinor={minor}", f"-X {pkg}.gitTreeState=clean"]
    return " ".join(stamps)


def _build(version: str, root: Path, progress: Progress) -> None:
    work = Path(tempfile.mkdtemp(prefix=f".build-{version}-", dir=root))
    try:
        src, out = work / "src", work / "out"
        shutil.copytree(GOMOD_DIR, src)
        out.mkdir()
        started = time.monotonic()
        progress(f"building Kubernetes {version} control plane from Go modules (minutes on first run)")
        _run_go_build(src, out, version, progress)
        progress(f"built {', '.join(_TARGETS)} in {time.monotonic() - started:.0f}s")
        target = root / version
        if target.exists():  # an older cache with fewer binaries: set it aside, then swap in
            target.rename(work / "previous")
        os.replace(out, target)  # atomic: readers see all binaries or none
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_go_build(src: Path, out: Path, version: str, progress: Progress) -> None:
    env, go = go_env(), go_binary()
    total = _count_packages(go, src, env)
    cmd = [go, "build", "-v", "-p", str(max(2, os.cpu_count() or 2)), "-trimpath"]
    cmd += ["-ldflags", ldflags(version), "-o", f"{out}/", *_TARGETS.values()]
    log_lines: list[str] = []
    proc = subprocess.Popen(
        cmd, cwd=src, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    last_report = 0.0
    for done, line in enumerate(proc.stdout, start=1):
        log_lines.append(line.rstrip())
        if time.monotonic() - last_report > 10:
            last_report = time.monotonic()
            progress(f"compiled {done} packages, at most {total or '?'} ({line.strip()})")
    if proc.wait() != 0:
        tail = "\n".join(log_lines[-40:])
        raise BinaryBuildError(f"go build failed (exit {proc.returncode}) in {src}:\n{tail}")


def _count_packages(go: str, src: Path, env: dict[str, str]) -> int:
    """How many packages the build may compile, for the progress line; 0 when unknown."""
    result = subprocess.run(
        [go, "list", "-deps", *_TARGETS.values()],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return len(result.stdout.split()) if result.returncode == 0 else 0
