"""Command lines of etcd, kube-apiserver and kube-controller-manager.

Pure functions of the layout, PKI and settings: easy to read side by side with the upstream flag
reference, and testable without starting anything. Choices that matter:

* etcd binds to 127.0.0.1 on free ports and runs with `--unsafe-no-fsync` (test data only);
* the API server listens on the layout's host: loopback without a node; with one, the node's bridge
  address, which it also advertises, so the `kubernetes` Service's endpoint is an address pods reach
  (through kube-proxy) and in-cluster config works in every pod;
* the apiserver verifies the kubelet's serving cert with our CA (`/containerLogs` for `kubectl logs`);
* kube-controller-manager runs the controllers Jobs, Services and a node need, without leader
  election and without its own HTTPS port.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dagster_ext.testing.cluster.binaries import BinaryPaths
from dagster_ext.testing.cluster.layout import ClusterLayout
from dagster_ext.testing.cluster.pki import ClusterPki

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
SERVICE_CIDR = "10.96.0.0/16"
DEFAULT_NODE_NAME = "dagster-ext-local"
DEFAULT_NODE_LABELS = {"node-group.dp.ssup2": "worker"}
CONTROLLERS = (  # 1.32 names (`kube-controller-manager --help`); the old short names are aliases
    "job-controller",
    "cronjob-controller",
    "deployment-controller",
    "replicaset-controller",
    "garbage-collector-controller",
    "ttl-after-finished-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",  # fills admin/edit/view, which tests may bind
    "node-lifecycle-controller",  # lifts the not-ready taint a new Node is registered with
    "taint-eviction-controller",
    "pod-garbage-collector-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "endpointslice-mirroring-controller",
    "disruption-controller",
    "statefulset-controller",
    "daemonset-controller",
    "resourcequota-controller",
)


@dataclass(frozen=True)
class NodeSettings:
    """The node the kubelet registers: its name and labels."""

    name: str = DEFAULT_NODE_NAME
    labels: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_NODE_LABELS))


def etcd_args(binaries: BinaryPaths, layout: ClusterLayout) -> list[str]:
    client = f"http://127.0.0.1:{layout.ports.etcd_client}"
    peer = f"http://127.0.0.1:{layout.ports.etcd_peer}"
    return [
        str(binaries.etcd),
        "--name=dagster-ext",
        f"--data-dir={layout.etcd_data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=dagster-ext={peer}",
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def apiserver_args(
    binaries: BinaryPaths, layout: ClusterLayout, pki: ClusterPki, extra: tuple[str, ...] = ()
) -> list[str]:
    return [
        str(binaries.kube_apiserver),
        f"--etcd-servers=http://127.0.0.1:{layout.ports.etcd_client}",
        f"--bind-address={layout.apiserver_host}",
        f"--advertise-address={layout.apiserver_host}",
        f"--secure-port={layout.ports.apiserver}",
        f"--tls-cert-file={pki.apiserver.cert}",
        f"--tls-private-key-file={pki.apiserver.key}",
        f"--client-ca-file={pki.ca_cert}",
        f"--token-auth-file={layout.token_file}",
        "--authorization-mode=Node,RBAC",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={pki.service_account_pub}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        f"--api-audiences={SERVICE_ACCOUNT_ISSUER}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--endpoint-reconciler-type=" + ("none" if layout.apiserver_host == "127.0.0.1" else "lease"),
        "--kubelet-preferred-address-types=InternalIP",
        f"--kubelet-certificate-authority={pki.ca_cert}",
        f"--kubelet-client-certificate={pki.apiserver_kubelet_client.cert}",
        f"--kubelet-client-key={pki.apiserver_kubelet_client.key}",
        "--allow-privileged=true",
        "--profiling=false",
        f"--cert-dir={layout.pki_dir}",
        "--v=1",
        *extra,
    ]


def controller_manager_args(binaries: BinaryPaths, layout: ClusterLayout, pki: ClusterPki) -> list[str]:
    return [
        str(binaries.kube_controller_manager),
        f"--kubeconfig={layout.controller_manager_kubeconfig}",
        f"--controllers={','.join(CONTROLLERS)}",
        f"--service-account-private-key-file={pki.service_account_key}",
        f"--root-ca-file={pki.ca_cert}",
        "--use-service-account-credentials=true",
        "--leader-elect=false",
        "--secure-port=0",
        "--node-monitor-period=2s",
        "--node-monitor-grace-period=40s",
        "--profiling=false",
        "--v=1",
    ]
