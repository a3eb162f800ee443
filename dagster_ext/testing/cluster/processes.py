"""Start, identify and stop the cluster's processes by PID.

Every component runs in its own session (process group == PID) with its output in a log file, so it can
be stopped as a group: SIGTERM, a grace period, then SIGKILL. A process is identified by (PID, start
time), so `dagster-ext cluster down` run long after `up --detach` never signals a recycled PID. When
the cluster is owned by the current process, children also get PR_SET_PDEATHSIG=SIGKILL (via util-linux
`setpriv`), so even a SIGKILLed test session leaves no etcd or apiserver behind. The kernel sends that
signal when the *thread* that started the child exits: start a cluster from a long-lived thread.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessRef:
    """Enough to find a process again later, even from another program (`cluster down`)."""

    name: str
    pid: int
    start_ticks: int
    log_path: str

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "pid": self.pid,
            "start_ticks": self.start_ticks,
            "log_path": self.log_path,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ProcessRef:
        return cls(
            name=str(data["name"]),
            pid=int(str(data["pid"])),
            start_ticks=int(str(data["start_ticks"])),
            log_path=str(data["log_path"]),
        )

    def alive(self) -> bool:
        """True while the same process (not a recycled PID) is running and not a zombie."""
        stat = _proc_stat(self.pid)
        return stat is not None and stat[1] == self.start_ticks and stat[0] != "Z"


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) from /proc/<pid>/stat, or None when gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return fields[0], int(fields[19])


@dataclass
class Component:
    """One running child process we own."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def ref(self) -> ProcessRef:
        stat = _proc_stat(self.process.pid)
        return ProcessRef(self.name, self.process.pid, stat[1] if stat else 0, str(self.log_path))

    def exited(self) -> bool:
        return self.process.poll() is not None


def spawn(
    name: str,
    args: list[str],
    *,
    log_path: Path,
    env: dict[str, str] | None = None,
    die_with_parent: bool = True,
    pass_fds: tuple[int, ...] = (),
) -> Component:
    """Start `args` in a new session with stdout+stderr appended to `log_path`."""
    setpriv = shutil.which("setpriv") if die_with_parent else None
    argv = [setpriv, "--pdeathsig", "KILL", "--", *args] if setpriv else list(args)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            pass_fds=pass_fds,
        )
    return Component(name=name, process=process, log_path=log_path)


def stop_component(component: Component, *, grace_s: float) -> None:
    """SIGTERM the component's group, SIGKILL it after `grace_s`, and reap it."""
    proc = component.process
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
    # the leader may be gone while its group lingers (e.g. a child it forked): always sweep the group
    _signal_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def stop_ref(ref: ProcessRef, *, grace_s: float) -> None:
    """Like `stop_component` for a process this program did not start (no Popen to wait on)."""
    if not ref.alive():
        return
    _signal_group(ref.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while ref.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    if ref.alive():
        _signal_group(ref.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while ref.alive() and time.monotonic() < deadline:
            time.sleep(0.05)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def rss_bytes(pid: int) -> int:
    """Resident memory of `pid` plus all its descendants (0 when gone)."""
    total = 0
    for member in [pid, *_descendants(pid)]:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, queue = [], list(children.get(pid, []))
    while queue:
        child = queue.pop()
        found.append(child)
        queue.extend(children.get(child, []))
    return found
