"""Command lines of etcd, kube-apiserver, kube-controller-manager and our process kubelet.

Pure functions of the layout, PKI and settings: easy to read side by side with the upstream flag
reference, and testable without starting anything. Choices that matter:

* everything binds to 127.0.0.1 on free ports; etcd runs with `--unsafe-no-fsync` (test data only);
* `--endpoint-reconciler-type=none`: the `kubernetes` Service's endpoints would have to be 127.0.0.1,
  which EndpointSlice validation rejects; pods get KUBERNETES_SERVICE_HOST=127.0.0.1 from our kubelet;
* the apiserver verifies the kubelet's serving cert with our CA (`/containerLogs` for `kubectl logs`);
* kube-controller-manager runs only the controllers Jobs and namespaces need, without leader election
  and without its own HTTPS port.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from dagster_ext.testing.cluster.binaries import BinaryPaths
from dagster_ext.testing.cluster.layout import ClusterLayout
from dagster_ext.testing.cluster.pki import ClusterPki

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
SERVICE_CIDR = "10.96.0.0/16"
DEFAULT_NODE_NAME = "dagster-ext-local"
DEFAULT_NODE_LABELS = {"node-group.dp.ssup2": "worker"}
DEFAULT_UNPULLABLE_IMAGE_REGEX = r"(^|/)unpullable[-/:]|does-not-exist"
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
)


@dataclass(frozen=True)
class NodeSettings:
    """What the process kubelet registers and how it treats images."""

    name: str = DEFAULT_NODE_NAME
    labels: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_NODE_LABELS))
    unpullable_image_regex: str = DEFAULT_UNPULLABLE_IMAGE_REGEX
    cpu: str | None = None
    memory_bytes: int | None = None


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
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
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
        "--endpoint-reconciler-type=none",
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
        "--profiling=false",
        "--v=1",
    ]


def kubelet_args(layout: ClusterLayout, pki: ClusterPki, node: NodeSettings) -> list[str]:
    """The contract with `dagster_ext.testing.kubelet` (see its `__main__`)."""
    args = [
        sys.executable,
        "-m",
        "dagster_ext.testing.kubelet",
        f"--kubeconfig={layout.kubelet_kubeconfig}",
        f"--node-name={node.name}",
        f"--port={layout.ports.kubelet}",
        f"--state-dir={layout.kubelet_state_dir}",
        f"--tls-cert={pki.kubelet_serving.cert}",
        f"--tls-key={pki.kubelet_serving.key}",
        f"--unpullable-image-regex={node.unpullable_image_regex}",
    ]
    for key, value in sorted(node.labels.items()):
        args.append(f"--node-label={key}={value}")
    if node.cpu is not None:
        args.append(f"--cpu={node.cpu}")
    if node.memory_bytes is not None:
        args.append(f"--memory={node.memory_bytes}")
    return args
