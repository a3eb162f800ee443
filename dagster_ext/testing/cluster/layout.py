"""Where one local cluster keeps its files, and which loopback ports it uses.

A single `ClusterLayout` value is shared by the argv builders, the orchestration and the detached-mode
state file, so a path or port is chosen in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from dagster_ext.testing._procs import free_port


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    kubelet: int
    kubelet_healthz: int
    proxy_healthz: int
    proxy_metrics: int
    registry: int
    dns_ready: int

    @classmethod
    def pick(cls) -> Ports:
        """Free loopback ports, distinct from each other (a later bind may still race; rare on a test box)."""
        chosen: list[int] = []
        while len(chosen) < len(fields(cls)):
            port = free_port()
            if port not in chosen:
                chosen.append(port)
        return cls(*chosen)


@dataclass(frozen=True)
class ClusterLayout:
    state_dir: Path
    ports: Ports
    apiserver_host: str = "127.0.0.1"
    """Loopback without a node; with one, the node's bridge address, which pods reach too."""

    @property
    def server_url(self) -> str:
        return f"https://{self.apiserver_host}:{self.ports.apiserver}"

    @property
    def pki_dir(self) -> Path:
        return self.state_dir / "pki"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def etcd_data_dir(self) -> Path:
        return self.state_dir / "etcd"

    @property
    def token_file(self) -> Path:
        return self.state_dir / "tokens.csv"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.state_dir / "admin.kubeconfig"

    @property
    def controller_manager_kubeconfig(self) -> Path:
        return self.state_dir / "controller-manager.kubeconfig"

    @property
    def kubelet_kubeconfig(self) -> Path:
        return self.state_dir / "kubelet.kubeconfig"

    @property
    def scheduler_kubeconfig(self) -> Path:
        return self.state_dir / "scheduler.kubeconfig"

    @property
    def proxy_kubeconfig(self) -> Path:
        return self.state_dir / "kube-proxy.kubeconfig"

    @property
    def node_dir(self) -> Path:
        return self.state_dir / "node"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    def log(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    def make_dirs(self) -> None:
        for directory in (self.pki_dir, self.logs_dir, self.etcd_data_dir, self.node_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.etcd_data_dir.chmod(0o700)
