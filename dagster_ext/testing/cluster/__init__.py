"""A local Kubernetes cluster for tests: control plane built from Go modules, pods run as processes.

See docs/local-cluster.md. `LocalCluster` is the entry point; `ensure_binaries` builds (once) and finds
kube-apiserver, kube-controller-manager and etcd.
"""

from __future__ import annotations

from dagster_ext.testing.cluster.binaries import BinaryPaths, ensure_binaries, pinned_version
from dagster_ext.testing.cluster.control_plane import NodeSettings
from dagster_ext.testing.cluster.errors import BinaryBuildError, ClusterError, ComponentStartError
from dagster_ext.testing.cluster.local_cluster import LocalCluster

__all__ = [
    "BinaryBuildError",
    "BinaryPaths",
    "ClusterError",
    "ComponentStartError",
    "LocalCluster",
    "NodeSettings",
    "ensure_binaries",
    "pinned_version",
]
