"""The state file of a running cluster: how `cluster status` and `cluster down` find it later.

`dagster-ext cluster up --detach` exits while etcd, the apiserver and friends keep running; the only
link to them is `state.json` in the state dir (ports, kubeconfig, and each process as PID + start time).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from dagster_ext.testing.cluster.errors import ClusterError
from dagster_ext.testing.cluster.processes import ProcessRef, stop_ref
from dagster_ext.testing.node import teardown

STATE_FILE = "state.json"
CONTAINERD_SOCKET = "node/containerd/state/containerd.sock"
# stop order: the kubelet first (it must still reach the apiserver to end its pods), etcd last
_GRACE_S = {"kubelet": 20.0, "containerd": 15.0}
_DEFAULT_GRACE_S = 10.0


@dataclass(frozen=True)
class ClusterState:
    version: str
    server_url: str
    kubeconfig: str
    node_name: str
    processes: tuple[ProcessRef, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "server_url": self.server_url,
            "kubeconfig": self.kubeconfig,
            "node_name": self.node_name,
            "processes": [p.to_json() for p in self.processes],
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ClusterState:
        processes = data.get("processes")
        if not isinstance(processes, list):
            raise ClusterError("state file has no process list")
        return cls(
            version=str(data["version"]),
            server_url=str(data["server_url"]),
            kubeconfig=str(data["kubeconfig"]),
            node_name=str(data["node_name"]),
            processes=tuple(ProcessRef.from_json(p) for p in processes),
        )

    def alive(self) -> dict[str, bool]:
        return {p.name: p.alive() for p in self.processes}


def save_state(state_dir: Path, state: ClusterState) -> Path:
    path = state_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=2) + "\n")
    os.replace(tmp, path)
    return path


def load_state(state_dir: Path) -> ClusterState | None:
    """The saved state, or None when there is no state file."""
    path = state_dir / STATE_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise ClusterError(f"unreadable cluster state {path}: {err}") from err
    if not isinstance(data, dict):
        raise ClusterError(f"unreadable cluster state {path}: not an object")
    return ClusterState.from_json(data)


def grace_for(name: str) -> float:
    return _GRACE_S.get(name, _DEFAULT_GRACE_S)


def stop_saved_cluster(state_dir: Path) -> list[str]:
    """Stop every process named in the state file (newest first); returns the names that were running."""
    state = load_state(state_dir)
    if state is None:
        return []
    stopped = []
    for ref in reversed(state.processes):
        if ref.alive():
            stopped.append(ref.name)
            if ref.name == "containerd":
                teardown.remove_all_containers(state_dir / CONTAINERD_SOCKET)
        stop_ref(ref, grace_s=grace_for(ref.name))
    if any(ref.name == "kubelet" for ref in state.processes):
        teardown.sweep_stale_processes()
        teardown.unmount_under(state_dir)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return stopped
