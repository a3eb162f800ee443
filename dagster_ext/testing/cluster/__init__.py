"""A local Kubernetes cluster for tests: control plane built from Go modules, one real node.

See docs/local-cluster.md. `LocalCluster` is the entry point; `ensure_binaries` builds (once) and finds
the Kubernetes binaries. The names are imported lazily, so a leaf module (`errors`, `binaries`) can be
imported by the node and image modules without importing the whole cluster.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dagster_ext.testing.cluster.binaries import BinaryPaths, ensure_binaries, pinned_version
    from dagster_ext.testing.cluster.control_plane import NodeSettings
    from dagster_ext.testing.cluster.errors import BinaryBuildError, ClusterError, ComponentStartError
    from dagster_ext.testing.cluster.local_cluster import LocalCluster

_WHERE = {
    "BinaryBuildError": "errors",
    "BinaryPaths": "binaries",
    "ClusterError": "errors",
    "ComponentStartError": "errors",
    "LocalCluster": "local_cluster",
    "NodeSettings": "control_plane",
    "ensure_binaries": "binaries",
    "pinned_version": "binaries",
}

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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
