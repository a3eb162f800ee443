"""The user-code image: one image for the code location server, the run pod and every step pod.

    debian bookworm (mmdebstrap, minbase) + python3      } one cached unit, keyed by a content hash of
    /opt/dagster/venv: dagster, dagster-postgres, ...    } the Debian packages and the pinned wheels
    /opt/dagster/app:  dagster_ext, examples, tests, bench  <- thin top layer, rebuilt in seconds

The Python packages are the ones of the environment that builds the image (`pip freeze`, less the
development tools), built as wheels on the host and installed in the image without an index, so the
image runs exactly the versions the tests run. The project's source is a plain directory on the
venv's path (a `.pth` file), so the image always runs the code under test.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dagster_ext.testing.cluster.errors import ImageBuildError
from dagster_ext.testing.images.oci import Layout, run_tool, write_files_layer, write_layer

SUITE = "bookworm"
DEBIAN_PACKAGES = ("python3", "python3-venv", "ca-certificates", "tini", "procps")
VENV = "/opt/dagster/venv"
APP = "/opt/dagster/app"
APP_DIRS = ("dagster_ext", "examples", "tests", "bench")
DEV_ONLY = {"ruff", "mypy", "mypy-extensions", "import-linter", "grimp", "types-pyyaml", "dagster-ext-k8s"}
IMAGE_ONLY = ("async-timeout==5.0.1",)
"""Needed by the image's Python but not the host's: Debian bookworm's python3 is 3.11.2, and redis
requires async-timeout below 3.11.3 (without it `import redis` fails, so kombu has no Redis
transport and a Celery worker in a pod cannot start)."""
BUILD_RECIPE = "3"
"""Bump when the way the dependency unit is built changes, so cached units are rebuilt."""

ENTRYPOINT = ("/usr/bin/tini", "--")
"""An init as PID 1: it forwards signals and reaps zombies, and a process that kills itself dies (the
kernel ignores signals a namespace's PID 1 has no handler for, SIGKILL from inside included)."""

ENV = {
    "PATH": f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}


@dataclass(frozen=True)
class DependencyUnit:
    """Base rootfs + venv as two layer tarballs, built once per content hash."""

    key: str
    base_tar: Path
    venv_tar: Path


def requirements() -> list[str]:
    """Pinned requirements of the running environment, less development tools and this project."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pins = []
    for raw in out.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or " @ " in line:
            continue
        name = line.split("==")[0].strip().lower().replace("_", "-")
        if name not in DEV_ONLY:
            pins.append(line)
    pinned = {pin.split("==")[0].lower() for pin in pins}
    extra = [pin for pin in IMAGE_ONLY if pin.split("==")[0] not in pinned]
    return sorted([*pins, *extra], key=str.lower)


def dependency_key(pins: list[str]) -> str:
    digest = hashlib.sha256()
    for part in (BUILD_RECIPE, SUITE, *DEBIAN_PACKAGES, *pins):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def ensure_dependency_unit(cache: Path, pins: list[str], progress: object = None) -> DependencyUnit:
    key = dependency_key(pins)
    unit_dir = cache / "deps" / key
    unit = DependencyUnit(key, unit_dir / "base.tar", unit_dir / "venv.tar")
    if unit.base_tar.exists() and unit.venv_tar.exists():
        return unit
    work = Path(tempfile.mkdtemp(prefix=".deps-", dir=cache))
    try:
        wheels = work / "wheels"
        _build_wheels(pins, wheels, cache / "pip")
        rootfs = work / "rootfs"
        _mmdebstrap(rootfs, wheels)
        staged = work / "unit"
        staged.mkdir()
        venv_rel = Path(VENV.lstrip("/"))
        write_layer(staged / "base.tar", rootfs, skip=lambda rel: rel == venv_rel or _volatile(rel))
        write_layer(staged / "venv.tar", rootfs / venv_rel, prefix=VENV.lstrip("/"))
        unit_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(unit_dir, ignore_errors=True)
        os.replace(staged, unit_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return unit


def _volatile(rel: Path) -> bool:
    """What a container gets from its runtime, or what only the build needed."""
    top = rel.parts[0] if rel.parts else ""
    return top in {"dev", "proc", "sys", "run", "tmp"} or str(rel).startswith(
        ("var/cache/apt", "var/lib/apt/lists")
    )


def _build_wheels(pins: list[str], wheels: Path, pip_cache: Path) -> None:
    wheels.mkdir(parents=True)
    req = wheels.parent / "requirements.txt"
    req.write_text("\n".join(pins) + "\n")
    env = {**os.environ, "PIP_CACHE_DIR": str(pip_cache)}
    env.pop("PIP_FIND_LINKS", None)
    run_tool(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), "-r", str(req)],
        env=env,
    )


def _mmdebstrap(rootfs: Path, wheels: Path) -> None:
    sources = _host_sources()
    hooks = [
        f'chroot "$1" python3 -m venv {VENV}',
        f'mkdir -p "$1/tmp/wheels" && cp {wheels}/*.whl "$1/tmp/wheels/"',
        f'chroot "$1" sh -c "{VENV}/bin/pip install --quiet --no-index --no-deps --no-compile '
        '--disable-pip-version-check /tmp/wheels/*.whl"',
        f'chroot "$1" {VENV}/bin/python -m compileall -q -j 2 {VENV}/lib >/dev/null || true',
        'rm -rf "$1/tmp/wheels"',
        f'echo {APP} > "$1{VENV}/lib/python3.11/site-packages/dagster_ext_app.pth"',
        f'mkdir -p "$1{APP}" "$1/opt/dagster/dagster_home"',
    ]
    argv = ["mmdebstrap", "--quiet", "--variant=minbase", "--mode=root", "--format=directory"]
    argv += [f"--include={','.join(DEBIAN_PACKAGES)}", "--aptopt=Acquire::Retries=3"]
    argv += ["--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-exclude=/usr/share/man/*"]
    argv += [f"--customize-hook={hook}" for hook in hooks]
    argv += [SUITE, str(rootfs), *sources]
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    run_tool(argv, env=env)


def _host_sources() -> list[str]:
    """The host's apt sources (mmdebstrap reads deb822 and one-line files alike)."""
    found = [str(p) for p in sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))]
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists() and legacy.read_text().strip():
        found.append(str(legacy))
    if not found:
        raise ImageBuildError("no apt sources on this machine for mmdebstrap")
    return found


def app_files(repo_root: Path) -> Path:
    """A staging copy of the project's source for the top layer (only what Python needs)."""
    stage = Path(tempfile.mkdtemp(prefix="dagster-ext-app-"))
    for name in APP_DIRS:
        src = repo_root / name
        if src.is_dir():
            shutil.copytree(
                src, stage / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*", "results")
            )
    return stage


def build(layout: Layout, cache: Path, repo_root: Path, *, tag_prefix: str = "user-code") -> str:
    """Build (or find) the user-code image for the current source; returns its tag in `layout`."""
    pins = requirements()
    unit = ensure_dependency_unit(cache, pins)
    deps_tag = f"{tag_prefix}-deps-{unit.key}"
    if not layout.has(deps_tag):
        base_tag = f"{deps_tag}-base"
        layout.new(base_tag)
        layout.add_layer(base_tag, unit.base_tar, new_tag=base_tag, comment="debian + python3")
        layout.add_layer(base_tag, unit.venv_tar, new_tag=deps_tag, comment="python packages")
        cli = f"#!{VENV}/bin/python\nfrom dagster_ext.cli import main\nmain()\n".encode()
        with tempfile.TemporaryDirectory() as tmp:
            tar = write_files_layer(Path(tmp) / "cli.tar", {f"{VENV}/bin/dagster-ext": (cli, 0o755)})
            layout.add_layer(deps_tag, tar, new_tag=deps_tag, comment="dagster-ext command")
    stage = app_files(repo_root)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tar = write_layer(Path(tmp) / "app.tar", stage, prefix=APP.lstrip("/"))
            app_key = hashlib.sha256(tar.read_bytes()).hexdigest()[:16]
            tag = f"{tag_prefix}-{unit.key}-{app_key}"
            if not layout.has(tag):
                layout.add_layer(deps_tag, tar, new_tag=tag, comment="dagster-ext source")
                layout.configure(tag, env=ENV, cmd=["python3"], workdir=APP, entrypoint=ENTRYPOINT)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return tag
