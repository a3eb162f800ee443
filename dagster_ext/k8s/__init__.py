"""Kubernetes integration: `module: dagster_ext.k8s` in `dagster.yaml`.

Public names are resolved lazily (PEP 562) so that the pure pod-spec model
(`dagster_ext.k8s.spec`) can be imported without the Kubernetes client.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "K8sRunLauncher": "dagster_ext.k8s.launcher",
    "k8s_job_executor": "dagster_ext.k8s.step_executor",
    "execute_k8s_job": "dagster_ext.k8s.k8s_job",
    "k8s_job_op": "dagster_ext.k8s.k8s_job",
    "PipesK8sClient": "dagster_ext.k8s.k8s_job",
    "PipesK8sPodLogsMessageReader": "dagster_ext.k8s.k8s_job",
}

__all__ = [
    "K8sRunLauncher",
    "PipesK8sClient",
    "PipesK8sPodLogsMessageReader",
    "execute_k8s_job",
    "k8s_job_executor",
    "k8s_job_op",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dagster_ext.k8s' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
