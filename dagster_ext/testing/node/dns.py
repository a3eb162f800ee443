"""The cluster's DNS: CoreDNS as a host process on the node bridge, answering for `cluster.local` only.

Pods get `nameserver NODE_IP` and the usual search path (`<ns>.svc.cluster.local svc.cluster.local
cluster.local`) from the kubelet's `clusterDNS`, so `<service>.<namespace>.svc.cluster.local` resolves
as on any cluster, and a Service's ClusterIP then goes through kube-proxy's rules.

Why a host process and not the usual Deployment behind a `kube-dns` Service: DNS then needs no image,
no pod and no kube-proxy rule before the first pod starts; it starts with the node (well under a
second, in parallel with the kubelet) and survives pod churn and kubelet restarts. It listens only on
the bridge address and serves only the cluster zones: no `forward` plugin, so any other name is
answered with an error at once and nothing is ever asked of a server off this machine.
"""

from __future__ import annotations

from pathlib import Path

from dagster_ext.testing.node.components import CLUSTER_DOMAIN
from dagster_ext.testing.node.network import NODE_IP

DNS_PORT = 53


def corefile(*, kubeconfig: Path, ready_port: int, listen: str = NODE_IP, port: int = DNS_PORT) -> str:
    """CoreDNS config: the `kubernetes` plugin for the cluster zones, readiness on loopback.

    `ready` answers 200 on `127.0.0.1:ready_port/ready` once the plugin has listed Services and
    EndpointSlices. Any other name gets an error at once (no `forward`: nothing leaves the machine)."""
    zones = f"{CLUSTER_DOMAIN} in-addr.arpa ip6.arpa"
    return (
        f".:{port} {{\n"
        f"    bind {listen}\n"
        "    errors\n"
        f"    ready 127.0.0.1:{ready_port}\n"
        f"    kubernetes {zones} {{\n"
        f"        kubeconfig {kubeconfig}\n"
        "        pods insecure\n"
        "        ttl 5\n"
        "    }\n"
        "    cache 5\n"
        "    loadbalance\n"
        "}\n"
    )


def write_corefile(path: Path, *, kubeconfig: Path, ready_port: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(corefile(kubeconfig=kubeconfig, ready_port=ready_port))
    return path


def coredns_args(binary: Path, corefile_path: Path) -> list[str]:
    return [str(binary), "-conf", str(corefile_path)]


def ready_url(ready_port: int) -> str:
    return f"http://127.0.0.1:{ready_port}/ready"
