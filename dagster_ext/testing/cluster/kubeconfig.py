"""Static bearer tokens and the kubeconfig files that carry them.

Each client of the local cluster (the admin/test user, kube-controller-manager, the kubelet) gets its own
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
    admin: TokenUser
    controller_manager: TokenUser
    kubelet: TokenUser

    @classmethod
    def new(cls) -> ClusterUsers:
        return cls(
            admin=TokenUser.new("dagster-ext-admin", "system:masters"),
            # the bootstrap RBAC policy binds system:kube-controller-manager to this user name
            controller_manager=TokenUser.new("system:kube-controller-manager"),
            # our kubelet binds pods itself (no scheduler), which the Node authorizer would refuse
            kubelet=TokenUser.new("dagster-ext-kubelet", "system:masters"),
        )

    def all(self) -> tuple[TokenUser, ...]:
        return (self.admin, self.controller_manager, self.kubelet)


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
