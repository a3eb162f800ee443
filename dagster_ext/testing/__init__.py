"""Testing support users can reuse: a local Kubernetes cluster with a real node
(`LocalCluster`) and pytest fixtures (`dagster_ext.testing.pytest_plugin`).

`LocalCluster` is imported lazily: the pytest plugin lives in this package and is loaded by every
pytest session, which should not pay for the cluster's imports unless it uses them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dagster_ext.testing.cluster import LocalCluster

__all__ = ["LocalCluster"]


def __getattr__(name: str) -> Any:
    if name == "LocalCluster":
        from dagster_ext.testing.cluster import LocalCluster

        return LocalCluster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
