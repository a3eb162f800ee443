"""Memory limits per container: cgroup v2 `memory.max`, else cgroup v1 `memory.limit_in_bytes`,
else polling the resident memory of the container's process session every ~100 ms.

With a cgroup the kernel's OOM killer acts and we read its `oom_kill` counter; when it rises
the kubelet kills the whole container (like `memory.oom.group`) and reports `OOMKilled`. Every
container gets a cgroup when cgroups are usable, so all its processes can be found and killed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import signal
import time
from pathlib import Path
from typing import Protocol

from dagster_ext.testing.kubelet import procfs

log = logging.getLogger(__name__)


class MemoryGuard(Protocol):
    procs_file: str  # the wrapper writes its pid here before exec ("" without a cgroup)

    def exceeded(self, session: int) -> bool: ...

    def members(self) -> list[int]: ...

    def release(self) -> None: ...


class MemoryControl(Protocol):
    mode: str

    def guard(self, name: str, limit_bytes: int | None) -> MemoryGuard: ...

    def sweep(self) -> None: ...

    def close(self) -> None: ...


def _counter(path: Path, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    return 0


def _pids(procs: Path) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(p) for p in procs.read_text().split()]
    return []


class CgroupGuard:
    def __init__(self, directory: Path, *, version: int, limit_bytes: int | None) -> None:
        self.dir = directory
        self.version = version
        self.procs_file = str(directory / "cgroup.procs")
        directory.mkdir(exist_ok=True)
        if limit_bytes is not None:
            self._limit(limit_bytes)

    def _limit(self, limit_bytes: int) -> None:
        if self.version == 2:
            (self.dir / "memory.max").write_text(str(limit_bytes))
            for name, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
                with contextlib.suppress(OSError):
                    (self.dir / name).write_text(value)
        else:
            (self.dir / "memory.limit_in_bytes").write_text(str(limit_bytes))
            with contextlib.suppress(OSError):  # absent without swap accounting
                (self.dir / "memory.memsw.limit_in_bytes").write_text(str(limit_bytes))

    def exceeded(self, session: int) -> bool:
        events = self.dir / ("memory.events" if self.version == 2 else "memory.oom_control")
        return _counter(events, "oom_kill") > 0

    def members(self) -> list[int]:
        return _pids(Path(self.procs_file))

    def release(self) -> None:
        for _ in range(50):
            pids = self.members()
            if not pids:
                break
            procfs.kill_all(pids, signal.SIGKILL)
            time.sleep(0.02)
        with contextlib.suppress(OSError):
            self.dir.rmdir()


class CgroupControl:
    def __init__(self, base: Path, *, version: int) -> None:
        self.base = base
        self.version = version
        self.mode = f"cgroup v{version} ({base})"

    def guard(self, name: str, limit_bytes: int | None) -> MemoryGuard:
        """A cgroup for one container run; RSS polling for it if the cgroup cannot be made."""
        try:
            self.base.mkdir(exist_ok=True)
            return CgroupGuard(self.base / name, version=self.version, limit_bytes=limit_bytes)
        except OSError as err:
            log.warning("cgroup for %s unavailable (%s): polling its memory instead", name, err)
            return PollingGuard(limit_bytes)

    def sweep(self) -> None:
        """Kill processes left in our cgroups by a previous kubelet (it may have been SIGKILLed)."""
        for child in self.base.iterdir():
            if child.is_dir():
                CgroupGuard(child, version=self.version, limit_bytes=None).release()

    def close(self) -> None:
        self.sweep()
        with contextlib.suppress(OSError):
            self.base.rmdir()


class PollingGuard:
    procs_file = ""

    def __init__(self, limit_bytes: int | None) -> None:
        self._limit = limit_bytes
        self._session = 0

    def exceeded(self, session: int) -> bool:
        self._session = session
        if self._limit is None:
            return False
        return sum(p.rss_bytes for p in procfs.session_members(session)) > self._limit

    def members(self) -> list[int]:
        return [p.pid for p in procfs.session_members(self._session)] if self._session else []

    def release(self) -> None:
        procfs.kill_all(self.members())


class PollingControl:
    mode = "RSS polling of the process session every 100 ms"

    def guard(self, name: str, limit_bytes: int | None) -> MemoryGuard:
        return PollingGuard(limit_bytes)

    def sweep(self) -> None:
        """Nothing to sweep: the runtime kills recorded process sessions instead."""

    def close(self) -> None:
        """Nothing to remove."""


def _own_cgroup(version: int) -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            ident, controllers, path = line.split(":", 2)
            if (version == 2 and ident == "0") or (version == 1 and "memory" in controllers.split(",")):
                return path
    return None


def _mount_point(version: int) -> tuple[Path, str] | None:
    """(mount point, root inside the hierarchy) of the cgroup2 / v1-memory filesystem."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            fields, fstype_opts = left.split(), right.split()
            fstype = fstype_opts[0] if fstype_opts else ""
            if version == 2 and fstype == "cgroup2":
                return Path(fields[4]), fields[3]
            if version == 1 and fstype == "cgroup" and "memory" in re.split(r"[ ,]", right):
                return Path(fields[4]), fields[3]
    return None


def _own_dir(version: int) -> Path | None:
    mount, own = _mount_point(version), _own_cgroup(version)
    if mount is None or own is None:
        return None
    point, root = mount
    relative = os.path.relpath(own, root) if own.startswith(root) else own.lstrip("/")
    return (point / relative).resolve() if relative != "." else point


def _try_v2(instance: str) -> CgroupControl | None:
    own = _own_dir(2)
    if own is None or "memory" not in (own / "cgroup.controllers").read_text().split():
        return None
    (own / "cgroup.subtree_control").write_text("+memory")  # EBUSY if `own` holds processes
    base = own / f"dagster-ext-kubelet-{instance}"
    base.mkdir(exist_ok=True)
    (base / "cgroup.subtree_control").write_text("+memory")
    return CgroupControl(base, version=2)


def _try_v1(instance: str) -> CgroupControl | None:
    own = _own_dir(1)
    if own is None or not (own / "memory.limit_in_bytes").exists():
        return None
    base = own / f"dagster-ext-kubelet-{instance}"
    base.mkdir(exist_ok=True)
    return CgroupControl(base, version=1)


def _probe(control: CgroupControl) -> bool:
    try:
        guard = CgroupGuard(control.base / "probe", version=control.version, limit_bytes=64 * 2**20)
        guard.release()
        return True
    except OSError as err:
        log.debug("cgroup v%d is not usable: %s", control.version, err)
        return False


def instance_name(node_name: str, state_dir: str) -> str:
    """Names our cgroup directory: two kubelets (even with one node name) never share it, and a
    restarted kubelet on the same state dir finds its predecessor's cgroups to sweep."""
    return f"{node_name}-{hashlib.sha256(state_dir.encode()).hexdigest()[:10]}"


def detect(instance: str, *, prefer: str = "auto") -> MemoryControl:
    """The best mechanism this machine allows; `prefer` = auto | cgroup2 | cgroup1 | poll."""
    attempts = {"cgroup2": (_try_v2,), "cgroup1": (_try_v1,), "poll": (), "auto": (_try_v2, _try_v1)}[prefer]
    for attempt in attempts:
        try:
            control = attempt(instance)
        except OSError as err:
            log.debug("%s failed: %s", attempt.__name__, err)
            continue
        if control is not None and _probe(control):
            return control
    return PollingControl()
