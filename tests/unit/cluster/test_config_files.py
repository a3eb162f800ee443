"""Token file, kubeconfigs, certificates and the components' config files and command lines."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

from dagster_ext.testing.cluster.binaries import BinaryPaths, ldflags
from dagster_ext.testing.cluster.control_plane import apiserver_args, controller_manager_args
from dagster_ext.testing.cluster.kubeconfig import ClusterUsers, write_kubeconfig, write_token_file
from dagster_ext.testing.cluster.layout import ClusterLayout, Ports
from dagster_ext.testing.cluster.pki import write_cluster_pki
from dagster_ext.testing.node import components, containerd, network
from dagster_ext.testing.pytest_plugin import namespace_name


def test_token_file_gives_each_user_its_own_token_and_groups(tmp_path: Path) -> None:
    users = ClusterUsers.new("node-a")
    rows = list(csv.reader(write_token_file(tmp_path / "t.csv", users.all()).read_text().splitlines()))
    assert [row[1] for row in rows] == [
        "dagster-ext-admin",
        "system:kube-controller-manager",
        "system:kube-scheduler",
        "system:node:node-a",
        "system:kube-proxy",
    ]
    assert rows[0][3] == "system:masters"
    assert rows[3][3] == "system:nodes"  # the Node authorizer's group: the kubelet is no admin
    assert len({row[0] for row in rows}) == 5


def test_kubeconfig_embeds_ca_server_and_token(tmp_path: Path) -> None:
    pki = write_cluster_pki(tmp_path / "pki")
    user = ClusterUsers.new("n").admin
    path = write_kubeconfig(tmp_path / "kc", server="https://127.0.0.1:6443", ca_cert=pki.ca_cert, user=user)
    document = yaml.safe_load(path.read_text())
    assert document["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert document["users"][0]["user"]["token"] == user.token
    assert path.stat().st_mode & 0o077 == 0


def _layout(tmp_path: Path, host: str = "127.0.0.1") -> ClusterLayout:
    return ClusterLayout(tmp_path, Ports(*range(1, 10)), apiserver_host=host)


def _kubelet_files(tmp_path: Path) -> components.KubeletFiles:
    return components.KubeletFiles(
        root_dir=tmp_path / "kubelet",
        config_file=tmp_path / "kubelet.yaml",
        kubeconfig=tmp_path / "kubelet.kubeconfig",
        resolv_conf=tmp_path / "resolv.conf",
        tls_cert=tmp_path / "k.crt",
        tls_key=tmp_path / "k.key",
        client_ca=tmp_path / "ca.crt",
        pod_logs_dir=tmp_path / "pods",
    )


def test_kubelet_serves_only_on_the_node_address_to_cluster_ca_clients(tmp_path: Path) -> None:
    files = _kubelet_files(tmp_path)
    config = components.kubelet_config(files, runtime_endpoint="unix:///c.sock", port=4, healthz_port=5)
    assert config["address"] == network.NODE_IP
    assert config["readOnlyPort"] == 0
    assert config["healthzBindAddress"] == "127.0.0.1"
    assert config["authentication"]["anonymous"] == {"enabled": False}
    assert config["authentication"]["x509"] == {"clientCAFile": str(files.client_ca)}
    assert (config["cgroupDriver"], config["failCgroupV1"], config["failSwapOn"]) == (
        "cgroupfs",
        False,
        False,
    )
    components.write_kubelet_files(files, config)
    assert "nameserver 127.0.0.1" in files.resolv_conf.read_text()  # no resolver off this machine
    args = components.kubelet_args(tmp_path / "kubelet", files, node_name="n", labels={"b": "2", "a": "1"})
    assert "--node-labels=a=1,b=2" in args
    assert f"--node-ip={network.NODE_IP}" in args


def test_kube_proxy_opens_node_ports_only_on_the_node_address(tmp_path: Path) -> None:
    config = components.kube_proxy_config(
        kubeconfig=tmp_path / "kc", node_name="n", healthz_port=1, metrics_port=2
    )
    assert config["nodePortAddresses"] == [f"{network.NODE_IP}/32"]
    assert config["healthzBindAddress"].startswith("127.0.0.1:")
    assert config["metricsBindAddress"].startswith("127.0.0.1:")
    assert config["conntrack"]["maxPerCore"] == 0  # leave the host's conntrack sysctls alone


def test_containerd_resolves_every_registry_to_the_loopback_registry_only(tmp_path: Path) -> None:
    layout = containerd.ContainerdLayout(tmp_path / "r", tmp_path / "s", tmp_path / "c", tmp_path / "cni")
    config = containerd.write_config(layout, registry_url="http://127.0.0.1:5000").read_text()
    assert "restrict_oom_score_adj = true" in config
    assert f'config_path = "{layout.hosts_dir}"' in config
    for name in (*containerd.REGISTRIES, "_default"):
        hosts = (layout.hosts_dir / name / "hosts.toml").read_text()
        assert hosts.startswith('server = "http://127.0.0.1:5000"')  # no upstream to fall back to
    env = containerd.containerd_env()
    assert env["HTTPS_PROXY"].startswith("http://127.0.0.1:")


def test_pods_get_no_masquerade_and_a_route_via_the_node_address(tmp_path: Path) -> None:
    path = network.write_cni_config(tmp_path / "net.d")
    bridge = json.loads(path.read_text())["plugins"][0]
    assert bridge["ipMasq"] is False
    assert bridge["ipam"]["ranges"][0][0] == {"subnet": network.POD_SUBNET, "gateway": network.NODE_IP}
    assert bridge["ipam"]["dataDir"] == str(tmp_path / "ipam")


def test_apiserver_listens_on_the_node_address_with_a_node(tmp_path: Path) -> None:
    layout = _layout(tmp_path, host=network.NODE_IP)
    pki = write_cluster_pki(layout.pki_dir, node_ip=network.NODE_IP, node_name="n")
    args = apiserver_args(BinaryPaths.in_dir(tmp_path, "v1.32.6"), layout, pki)
    assert f"--bind-address={network.NODE_IP}" in args
    assert f"--advertise-address={network.NODE_IP}" in args
    assert "--endpoint-reconciler-type=lease" in args  # the kubernetes Service gets the node address


def test_apiserver_is_loopback_only_with_rbac_and_service_accounts(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    pki = write_cluster_pki(layout.pki_dir)
    args = apiserver_args(BinaryPaths.in_dir(tmp_path, "v1.32.6"), layout, pki)
    assert "--bind-address=127.0.0.1" in args
    assert "--authorization-mode=Node,RBAC" in args
    assert any(a.startswith("--service-account-signing-key-file=") for a in args)
    kcm = controller_manager_args(BinaryPaths.in_dir(tmp_path, "v1.32.6"), layout, pki)
    controllers = next(a for a in kcm if a.startswith("--controllers=")).split("=", 1)[1].split(",")
    assert {"job-controller", "garbage-collector-controller", "ttl-after-finished-controller"} <= set(
        controllers
    )


def test_ldflags_stamp_component_base_version() -> None:
    flags = ldflags("v1.32.6")
    assert "-X k8s.io/component-base/version.gitVersion=v1.32.6" in flags
    assert "-X k8s.io/component-base/version.gitMinor=32" in flags


@given(st.text(max_size=200))
def test_namespace_names_are_dns_labels(test_name: str) -> None:
    import re

    name = namespace_name(test_name)
    assert len(name) <= 63
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)


def test_the_corefile_serves_only_the_cluster_zones_on_the_bridge(tmp_path: Path) -> None:
    from dagster_ext.testing.node import dns
    from dagster_ext.testing.node.network import NODE_IP

    text = dns.corefile(kubeconfig=tmp_path / "k", ready_port=7)
    assert f"bind {NODE_IP}" in text
    assert "kubernetes cluster.local in-addr.arpa ip6.arpa" in text
    assert "ready 127.0.0.1:7" in text
    assert "forward" not in text  # nothing is ever asked of a server off this machine


def test_the_node_points_pods_at_the_cluster_dns(tmp_path: Path) -> None:
    from dagster_ext.testing.node.network import NODE_IP
    from dagster_ext.testing.node.node import NodePlan, NodePorts

    plan = NodePlan(
        state_dir=tmp_path,
        ports=NodePorts(*range(1, 7)),
        node_name="n",
        labels={},
        ca_cert=tmp_path / "ca.crt",
        serving_cert=tmp_path / "s.crt",
        serving_key=tmp_path / "s.key",
        kubelet_kubeconfig=tmp_path / "kubelet.kubeconfig",
        proxy_kubeconfig=tmp_path / "proxy.kubeconfig",
    )
    plan.kubelet_command(tmp_path / "kubelet")
    config = yaml.safe_load(plan.kubelet_files.config_file.read_text())
    assert config["clusterDNS"] == [NODE_IP]
    assert config["clusterDomain"] == "cluster.local"
    argv = plan.coredns_command(tmp_path / "coredns", tmp_path / "admin.kubeconfig")
    assert f"bind {NODE_IP}" in Path(argv[-1]).read_text()
    assert plan.dns_ready_url == "http://127.0.0.1:6/ready"
