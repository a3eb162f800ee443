"""The real node of the local cluster: what to start, with which files, in which order.

`NodePlan` turns the cluster's layout, PKI and kubeconfigs into the registry, containerd, kube-proxy
and kubelet command lines (kube-scheduler belongs to the control plane but only a node needs it).
`LocalCluster` starts them through its own process supervision, so a failed start names the
component and its log, and `cluster down` stops them like the rest.

Only one node runs on a machine at a time (it owns the bridge, the iptables chains of kube-proxy and
the containerd root): `node_lock` is held for the node's lifetime.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import yaml

from dagster_ext.testing.cluster.errors import NodeSetupError
from dagster_ext.testing.node import components, dns, registry, teardown
from dagster_ext.testing.node.containerd import ContainerdLayout, containerd_args, write_config
from dagster_ext.testing.node.network import NODE_IP, write_cni_config

_LOCK_PATH = Path("/run/dagster-ext-node.lock")
REQUIRED_TOOLS = (
    "containerd",
    "containerd-shim-runc-v2",
    "runc",
    "iptables",
    "ip",
    "conntrack",
    "umoci",
    "skopeo",
)


def pull_images(layout: ContainerdLayout, references: list[str]) -> None:
    """Pull `references` into the node now, through the loopback registry.

    A tag pushed again with new content (the user-code image after a source change) would otherwise
    keep its old content on this node: pods use `IfNotPresent`, and containerd's root outlives a
    cluster. Unchanged layers are not fetched again, so this costs a manifest lookup per image."""
    for reference in references:
        argv = ["ctr", "--address", str(layout.socket), "--namespace", "k8s.io", "images", "pull"]
        argv += ["--hosts-dir", str(layout.hosts_dir), reference]
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
        if result.returncode != 0:
            raise NodeSetupError(f"could not pull {reference} into the node: {result.stderr.strip()[-500:]}")


def live_node_processes() -> list[int]:
    """PIDs of containerd or kubelet processes started for a node state dir (ours: by their config)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        joined = b" ".join(argv)
        if b"/node/containerd/config/config.toml" in joined or b"/node/kubelet-config.yaml" in joined:
            found.append(int(entry.name))
    return found


def containerd_root() -> Path:
    """Kept between clusters: pulled layers stay unpacked in its snapshots."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dagster-ext" / "containerd"


def check_prerequisites() -> None:
    if os.geteuid() != 0:
        raise NodeSetupError("the local node runs real containers and needs root (run as root)")
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise NodeSetupError(f"missing {', '.join(missing)}: run scripts/setup.sh")
    if not Path("/usr/lib/cni/bridge").exists():
        raise NodeSetupError(
            "CNI plugins not found in /usr/lib/cni: apt-get install containernetworking-plugins"
        )


class NodeLock:
    """An exclusive lock on the machine's one node; released when the holder exits, however it exits."""

    def __init__(self) -> None:
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock. A lock held with no node running (no containerd or kubelet of a node state
        dir) is held by what a killed node left behind, its containerd shims, which inherit the
        descriptor: they are swept and the lock is taken."""
        handle = open(_LOCK_PATH, "a")  # noqa: SIM115 - held until release()
        deadline = time.monotonic() + 10
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as err:
                if live_node_processes() or time.monotonic() > deadline:
                    handle.close()
                    raise NodeSetupError(
                        "another local cluster with a node is running on this machine (one node per "
                        "machine): stop it with `dagster-ext cluster down`, or start this one without "
                        "a node"
                    ) from err
                teardown.sweep_stale_processes()
                time.sleep(0.2)
        self._handle = handle

    def fds(self) -> tuple[int, ...]:
        """The lock's descriptor, for a child that must hold the lock as long as it runs."""
        return (self._handle.fileno(),) if self._handle is not None else ()

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


@dataclass(frozen=True)
class NodePorts:
    kubelet: int
    kubelet_healthz: int
    proxy_healthz: int
    proxy_metrics: int
    registry: int
    dns_ready: int


@dataclass(frozen=True)
class NodePlan:
    """Paths and ports of one node; its methods write the config files and return command lines."""

    state_dir: Path
    ports: NodePorts
    node_name: str
    labels: dict[str, str]
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    kubelet_kubeconfig: Path
    proxy_kubeconfig: Path

    @property
    def registry_address(self) -> str:
        return f"127.0.0.1:{self.ports.registry}"

    @property
    def containerd(self) -> ContainerdLayout:
        return ContainerdLayout(
            root=containerd_root(),
            state=self.state_dir / "containerd" / "state",
            config_dir=self.state_dir / "containerd" / "config",
            cni_conf_dir=self.state_dir / "cni" / "net.d",
        )

    @property
    def kubelet_files(self) -> components.KubeletFiles:
        root = self.state_dir / "kubelet"
        return components.KubeletFiles(
            root_dir=root,
            config_file=self.state_dir / "kubelet-config.yaml",
            kubeconfig=self.kubelet_kubeconfig,
            resolv_conf=self.state_dir / "pod-resolv.conf",
            tls_cert=self.serving_cert,
            tls_key=self.serving_key,
            client_ca=self.ca_cert,
            pod_logs_dir=self.state_dir / "pod-logs",
        )

    def registry_command(self) -> list[str]:
        config = registry.write_registry_config(self.state_dir / "registry.yaml", port=self.ports.registry)
        return registry.registry_args(registry.ensure_registry_binary(), config)

    def containerd_command(self) -> list[str]:
        layout = self.containerd
        write_config(layout, registry_url=f"http://{self.registry_address}")
        write_cni_config(layout.cni_conf_dir)
        return containerd_args(layout)

    def kube_proxy_command(self, binary: Path) -> list[str]:
        config_file = self.state_dir / "kube-proxy-config.yaml"
        config = components.kube_proxy_config(
            kubeconfig=self.proxy_kubeconfig,
            node_name=self.node_name,
            healthz_port=self.ports.proxy_healthz,
            metrics_port=self.ports.proxy_metrics,
        )
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        return components.kube_proxy_args(binary, config_file)

    def coredns_command(self, binary: Path, kubeconfig: Path) -> list[str]:
        path = dns.write_corefile(
            self.state_dir / "Corefile", kubeconfig=kubeconfig, ready_port=self.ports.dns_ready
        )
        return dns.coredns_args(binary, path)

    @property
    def dns_ready_url(self) -> str:
        return dns.ready_url(self.ports.dns_ready)

    def kubelet_command(self, binary: Path) -> list[str]:
        files = self.kubelet_files
        config = components.kubelet_config(
            files,
            runtime_endpoint=self.containerd.endpoint,
            port=self.ports.kubelet,
            healthz_port=self.ports.kubelet_healthz,
            cluster_dns=(NODE_IP,),
        )
        components.write_kubelet_files(files, config)
        return components.kubelet_args(binary, files, node_name=self.node_name, labels=self.labels)
