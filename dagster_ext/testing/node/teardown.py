"""Leave nothing of a node behind: containers, their shims, network namespaces and mounts.

Stopping the kubelet and containerd does not stop containers: each runs under its own
containerd-shim, which outlives containerd by design. Before containerd stops, every task in the CRI
namespace is killed and deleted (the shim exits with its last task); afterwards the mounts left under
the node's state dir (kubelet volumes, pod network namespaces) are lazily unmounted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

CRI_NAMESPACE = "k8s.io"


def _ctr(socket: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = ["ctr", "--address", str(socket), "--namespace", CRI_NAMESPACE, "--timeout", "10s", *args]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)


def remove_all_containers(socket: Path) -> int:
    """Kill and delete every task and container of the CRI namespace; returns how many containers."""
    if not socket.exists() or shutil.which("ctr") is None:
        return 0
    tasks = _ctr(socket, "tasks", "ls", "-q").stdout.split()
    for task in tasks:
        _ctr(socket, "tasks", "kill", "--signal", "SIGKILL", task)
    for task in tasks:
        _ctr(socket, "tasks", "delete", "--force", task)
    containers = _ctr(socket, "containers", "ls", "-q").stdout.split()
    for container in containers:
        _ctr(socket, "containers", "delete", container)
    return len(containers)


def unmount_under(directory: Path) -> None:
    """Lazily unmount everything mounted at or below `directory`, deepest first."""
    root = str(directory.resolve())
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    targets = [fields[1] for fields in (line.split() for line in mounts) if len(fields) > 1]
    for target in sorted((t for t in targets if t == root or t.startswith(root + "/")), reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)


def sweep_stale_processes(cgroup_root: Path = Path("/sys/fs/cgroup/pids/kubepods")) -> int:
    """Kill what a node that was not stopped cleanly left running: every process in the kubelet's pod
    cgroups and every containerd-shim of a node state dir. Only one node runs per machine and this is
    called while none does, so nothing here belongs to a live node. Returns how many were killed."""
    victims: set[int] = set()
    if cgroup_root.is_dir():
        for procs in cgroup_root.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                victims.update(int(pid) for pid in procs.read_text().split())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if argv and argv[0].endswith(b"containerd-shim-runc-v2") and b"-namespace" in argv:
                address = argv[argv.index(b"-address") + 1] if b"-address" in argv else b""
                if address.endswith(b"/node/containerd/state/containerd.sock"):
                    victims.add(int(entry.name))
    for pid in victims:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(victims)


def unmount_stale_node_dirs() -> None:
    """Unmount what a node killed without a clean stop left mounted in its state dir (pod volumes,
    network namespaces, rootfs): a node state dir is recognised by its kubelet-config.yaml."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    stale: set[Path] = set()
    for fields in (line.split() for line in mounts):
        if len(fields) < 2 or "/node/" not in fields[1]:
            continue
        node_dir = Path(fields[1].split("/node/", 1)[0]) / "node"
        if (node_dir / "kubelet-config.yaml").exists():
            stale.add(node_dir)
    for node_dir in stale:
        unmount_under(node_dir)
