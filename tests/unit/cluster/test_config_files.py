"""Token file, kubeconfigs and the component command lines (the kubelet contract)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

from dagster_ext.testing.cluster.binaries import BinaryPaths, ldflags
from dagster_ext.testing.cluster.control_plane import (
    NodeSettings,
    apiserver_args,
    controller_manager_args,
    kubelet_args,
)
from dagster_ext.testing.cluster.kubeconfig import ClusterUsers, write_kubeconfig, write_token_file
from dagster_ext.testing.cluster.layout import ClusterLayout, Ports
from dagster_ext.testing.cluster.pki import write_cluster_pki
from dagster_ext.testing.pytest_plugin import namespace_name


def test_token_file_gives_each_user_its_own_token_and_groups(tmp_path: Path) -> None:
    users = ClusterUsers.new()
    rows = list(csv.reader(write_token_file(tmp_path / "t.csv", users.all()).read_text().splitlines()))
    assert [row[1] for row in rows] == [
        "dagster-ext-admin",
        "system:kube-controller-manager",
        "dagster-ext-kubelet",
    ]
    assert rows[0][3] == "system:masters"
    assert len({row[0] for row in rows}) == 3


def test_kubeconfig_embeds_ca_server_and_token(tmp_path: Path) -> None:
    pki = write_cluster_pki(tmp_path / "pki")
    user = ClusterUsers.new().admin
    path = write_kubeconfig(tmp_path / "kc", server="https://127.0.0.1:6443", ca_cert=pki.ca_cert, user=user)
    document = yaml.safe_load(path.read_text())
    assert document["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert document["users"][0]["user"]["token"] == user.token
    assert path.stat().st_mode & 0o077 == 0


def _layout(tmp_path: Path) -> ClusterLayout:
    return ClusterLayout(tmp_path, Ports(etcd_client=1, etcd_peer=2, apiserver=3, kubelet=4))


def test_kubelet_command_line_follows_the_contract(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    pki = write_cluster_pki(layout.pki_dir)
    node = NodeSettings(labels={"a": "1", "b": "2"}, unpullable_image_regex="nope", memory_bytes=2**30)
    args = kubelet_args(layout, pki, node)
    assert args[:3] == [sys.executable, "-m", "dagster_ext.testing.kubelet"]
    assert f"--port={layout.ports.kubelet}" in args
    assert f"--kubeconfig={layout.kubelet_kubeconfig}" in args
    assert f"--tls-cert={pki.kubelet_serving.cert}" in args
    assert [a for a in args if a.startswith("--node-label")] == ["--node-label=a=1", "--node-label=b=2"]
    assert "--unpullable-image-regex=nope" in args
    assert f"--memory={2**30}" in args


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
