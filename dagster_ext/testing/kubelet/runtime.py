"""Container processes: start under a private mount namespace, watch memory, stop, and reap.

`unshare --mount --propagation private` gives the process its own mount table; a small shell
wrapper then joins the container's cgroup, bind-mounts each volume onto its mountPath (creating
the mount point when missing), changes to the working directory and execs the command. Mounts
are invisible to the host and vanish with the process. The process leads its own session, so
the container's whole process tree can be signalled.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dagster_ext.testing.kubelet import procfs
from dagster_ext.testing.kubelet.errors import ContainerStartError
from dagster_ext.testing.kubelet.logfiles import LogWriter
from dagster_ext.testing.kubelet.memory import MemoryGuard
from dagster_ext.testing.kubelet.podspec import Mount

_TOOLS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
WRAPPER = f"""set -e
procs="$1"; workdir="$2"; shift 2
if [ -n "$procs" ]; then echo $$ > "$procs"; fi
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  src="$1"; dst="$2"; mode="$3"; shift 3
  if [ -d "$src" ]; then PATH={_TOOLS_PATH} mkdir -p "$dst"
  else PATH={_TOOLS_PATH} mkdir -p "$(PATH={_TOOLS_PATH} dirname "$dst")"; [ -e "$dst" ] || : > "$dst"; fi
  PATH={_TOOLS_PATH} mount --bind "$src" "$dst"
  if [ "$mode" = ro ]; then PATH={_TOOLS_PATH} mount -o remount,bind,ro "$dst"; fi
done
[ "$#" -gt 0 ] && shift
PATH={_TOOLS_PATH} mkdir -p "$workdir"
cd "$workdir"
exec "$@"
"""


def mount_namespaces_available() -> bool:
    """True when we may create mount namespaces (root, `unshare` installed and permitted)."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, check=False
    )
    return probe.returncode == 0


def container_id(*parts: str) -> str:
    digest = hashlib.sha256("/".join((*parts, str(time.time_ns()))).encode()).hexdigest()
    return f"process://{digest}"


def exit_code_of(returncode: int) -> int:
    """Shell convention, as container runtimes report it: killed by signal N → 128 + N."""
    return returncode if returncode >= 0 else 128 - returncode


@dataclass(frozen=True)
class Exit:
    exit_code: int
    reason: str
    message: str = ""


@dataclass(frozen=True)
class Launch:
    argv: Sequence[str]
    env: dict[str, str]
    working_dir: str
    mounts: Sequence[Mount]
    use_mount_namespace: bool


def wrapper_argv(launch: Launch, procs_file: str) -> list[str]:
    mounts: list[str] = []
    for mount in launch.mounts:
        mounts += [mount.source, mount.target, "ro" if mount.read_only else "rw"]
    inner = ["/bin/sh", "-c", WRAPPER, "dagster-ext-container", procs_file, launch.working_dir, *mounts, "--"]
    if launch.use_mount_namespace:
        return ["unshare", "--mount", "--propagation", "private", *inner, *launch.argv]
    if launch.mounts:
        raise ContainerStartError(
            "volume mounts need mount namespaces (run the kubelet as root with `unshare`)"
        )
    return [*inner, *launch.argv]


class ContainerProcess:
    """One run of one container. `run()` blocks until the process tree is gone."""

    def __init__(self, launch: Launch, *, guard: MemoryGuard, log: LogWriter, pid_file: Path) -> None:
        self._launch = launch
        self._guard = guard
        self._log = log
        self._pid_file = pid_file
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc else 0

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        argv = wrapper_argv(self._launch, self._guard.procs_file)
        for mount in self._launch.mounts:  # a missing subPath is created inside its volume
            if not os.path.exists(mount.source):
                os.makedirs(mount.source, exist_ok=True)
        try:
            self._proc = subprocess.Popen(
                argv,
                env=self._launch.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as err:
            raise ContainerStartError(f"failed to start process: {err}") from err
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._log.attach(self._proc.stdout, "stdout")
        self._log.attach(self._proc.stderr, "stderr")
        stat = procfs.read_stat(self._proc.pid)
        self._pid_file.parent.mkdir(parents=True, exist_ok=True)
        self._pid_file.write_text(f"{self._proc.pid} {stat.start_ticks if stat else 0}\n")

    def signal(self, sig: int) -> None:
        procfs.signal_group(self.pid, sig)
        procfs.kill_all(self._guard.members(), sig)

    def supervise(
        self, *, stop_requested: Callable[[], bool], grace_s: Callable[[], float], on_stop: Callable[[], None]
    ) -> Exit:
        """Wait for the exit; enforce the memory limit; on `stop_requested` SIGTERM, then SIGKILL
        after the grace period. Always reaps the whole tree before returning."""
        assert self._proc is not None
        oom, kill_at = False, None
        while self._proc.poll() is None:
            if not oom and self._guard.exceeded(self.pid):
                oom = True
                self.signal(signal.SIGKILL)
            elif kill_at is None and stop_requested():
                on_stop()
                self.signal(signal.SIGTERM)
                kill_at = time.monotonic() + grace_s()
            elif kill_at is not None and time.monotonic() >= kill_at:
                self.signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=0.1)
        oom = oom or self._guard.exceeded(self.pid)
        self._reap()
        code = 137 if oom else exit_code_of(self._proc.returncode)
        return Exit(code, "OOMKilled" if oom else ("Completed" if code == 0 else "Error"))

    def _reap(self) -> None:
        """The main process has exited: like a container runtime, kill what it left behind."""
        self.signal(signal.SIGKILL)
        procfs.kill_all(p.pid for p in procfs.session_members(self.pid))
        self._log.close()
        self._guard.release()
        with contextlib.suppress(OSError):
            self._pid_file.unlink()


def sweep_orphans(pods_dir: Path) -> int:
    """Kill process sessions recorded by a previous kubelet run that are still alive."""
    killed = 0
    for pid_file in pods_dir.glob("*/containers/*.pid"):
        with contextlib.suppress(ValueError, OSError):
            pid, start_ticks = (int(x) for x in pid_file.read_text().split())
            stat = procfs.read_stat(pid)
            if stat is not None and stat.start_ticks == start_ticks:
                procfs.signal_group(pid, signal.SIGKILL)
                procfs.kill_all(p.pid for p in procfs.session_members(pid))
                killed += 1
            pid_file.unlink()
    return killed
