"""Config files and command lines of the node's upstream components: kubelet, kube-scheduler, kube-proxy.

Pure functions of paths and settings, to read side by side with the upstream references
(KubeletConfiguration v1beta1, KubeProxyConfiguration v1alpha1). Choices that matter:

* kubelet: cgroupfs driver (this machine has cgroup v1 and no systemd), `failCgroupV1: false`,
  `failSwapOn: false`; it serves only on `NODE_IP` with a certificate for that address (the API server
  verifies it for logs and exec), accepts only clients with a certificate from the cluster CA, and
  gives pods a resolv.conf that names no server off this machine;
* kube-proxy: iptables mode; NodePorts open only on `NODE_IP`; conntrack sysctls left as found;
* kube-scheduler and kube-proxy serve health and metrics on loopback only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dagster_ext.testing.node.network import NODE_IP, POD_SUBNET

CLUSTER_DOMAIN = "cluster.local"


@dataclass(frozen=True)
class KubeletFiles:
    """Where the kubelet keeps its state and finds its inputs."""

    root_dir: Path
    config_file: Path
    kubeconfig: Path
    resolv_conf: Path
    tls_cert: Path
    tls_key: Path
    client_ca: Path
    pod_logs_dir: Path


def kubelet_config(
    files: KubeletFiles,
    *,
    runtime_endpoint: str,
    port: int,
    healthz_port: int,
    cluster_dns: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "tlsCertFile": str(files.tls_cert),
        "tlsPrivateKeyFile": str(files.tls_key),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(files.client_ca)},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "cgroupDriver": "cgroupfs",
        "containerRuntimeEndpoint": runtime_endpoint,
        "failSwapOn": False,
        "failCgroupV1": False,
        "enforceNodeAllocatable": [],
        "resolvConf": str(files.resolv_conf),
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": list(cluster_dns),
        "podLogsDir": str(files.pod_logs_dir),
        "serializeImagePulls": False,
        "syncFrequency": "10s",
        "fileCheckFrequency": "20s",
        "nodeStatusUpdateFrequency": "5s",
        "nodeStatusReportFrequency": "30s",
        "imageMinimumGCAge": "24h",
        "imageGCHighThresholdPercent": 95,
        "imageGCLowThresholdPercent": 90,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%"},
        "evictionPressureTransitionPeriod": "30s",
        "shutdownGracePeriod": "0s",
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": True,
        "logging": {"format": "text", "verbosity": 1},
    }


def write_kubelet_files(files: KubeletFiles, config: dict[str, Any]) -> None:
    files.root_dir.mkdir(parents=True, exist_ok=True)
    files.pod_logs_dir.mkdir(parents=True, exist_ok=True)
    # no nameserver off this machine: a pod's lookups go to its own loopback and fail at once
    files.resolv_conf.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    files.config_file.write_text(yaml.safe_dump(config, sort_keys=False))


def kubelet_args(binary: Path, files: KubeletFiles, *, node_name: str, labels: dict[str, str]) -> list[str]:
    args = [
        str(binary),
        f"--config={files.config_file}",
        f"--kubeconfig={files.kubeconfig}",
        f"--root-dir={files.root_dir}",
        f"--cert-dir={files.root_dir / 'pki'}",
        f"--hostname-override={node_name}",
        f"--node-ip={NODE_IP}",
        "--v=1",
    ]
    if labels:
        args.append("--node-labels=" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())))
    return args


def scheduler_args(binary: Path, kubeconfig: Path) -> list[str]:
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        "--secure-port=0",
        "--leader-elect=false",
        "--profiling=false",
        "--v=1",
    ]


def kube_proxy_config(
    *, kubeconfig: Path, node_name: str, healthz_port: int, metrics_port: int
) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": node_name,
        "mode": "iptables",
        "clusterCIDR": POD_SUBNET,
        "bindAddress": NODE_IP,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "nodePortAddresses": [f"{NODE_IP}/32"],
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "iptables": {"syncPeriod": "10s", "minSyncPeriod": "0s", "masqueradeAll": False},
    }


def kube_proxy_args(binary: Path, config_file: Path) -> list[str]:
    return [str(binary), f"--config={config_file}", "--v=1"]
