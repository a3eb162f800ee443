"""Static bearer tokens and the kubeconfig files that carry them.

Each client of the local cluster (the admin/test user, each control-plane and node component) gets its own
token, so the apiserver's audit trail and RBAC decisions name who did what. The kubeconfigs embed the CA
so one file is all a test, `kubectl` or a Dagster run needs.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml

CLUSTER_NAME = "dagster-ext-local"


@dataclass(frozen=True)
class TokenUser:
    """One line of the apiserver's `--token-auth-file`."""

    name: str
    groups: tuple[str, ...] = ()
    token: str = ""

    @classmethod
    def new(cls, name: str, *groups: str) -> TokenUser:
        return cls(name=name, groups=groups, token=secrets.token_hex(24))


@dataclass(frozen=True)
class ClusterUsers:
    """The identities the bootstrap RBAC policy and the Node authorizer already know by name."""

    admin: TokenUser
    controller_manager: TokenUser
    scheduler: TokenUser
    kubelet: TokenUser
    kube_proxy: TokenUser

    @classmethod
    def new(cls, node_name: str) -> ClusterUsers:
        return cls(
            admin=TokenUser.new("dagster-ext-admin", "system:masters"),
            controller_manager=TokenUser.new("system:kube-controller-manager"),
            scheduler=TokenUser.new("system:kube-scheduler"),
            kubelet=TokenUser.new(f"system:node:{node_name}", "system:nodes"),
            kube_proxy=TokenUser.new("system:kube-proxy"),
        )

    def all(self) -> tuple[TokenUser, ...]:
        return (self.admin, self.controller_manager, self.scheduler, self.kubelet, self.kube_proxy)


def write_token_file(path: Path, users: tuple[TokenUser, ...]) -> Path:
    lines = [f'{u.token},{u.name},{u.name},"{",".join(u.groups)}"' for u in users]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def kubeconfig_document(*, server: str, ca_cert: Path, user: TokenUser) -> dict[str, object]:
    ca_data = base64.b64encode(ca_cert.read_bytes()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": CLUSTER_NAME, "cluster": {"server": server, "certificate-authority-data": ca_data}}
        ],
        "users": [{"name": user.name, "user": {"token": user.token}}],
        "contexts": [{"name": CLUSTER_NAME, "context": {"cluster": CLUSTER_NAME, "user": user.name}}],
        "current-context": CLUSTER_NAME,
        "preferences": {},
    }


def write_kubeconfig(path: Path, *, server: str, ca_cert: Path, user: TokenUser) -> Path:
    document = kubeconfig_document(server=server, ca_cert=ca_cert, user=user)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)
    return path
