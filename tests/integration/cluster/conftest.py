"""Fixtures shared by the cluster integration tests (which run unchanged on the local cluster and kind)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dagster_ext.testing.job_manifests import JOB_NAME_LABEL
from dagster_ext.testing.pytest_plugin import K8sCluster


@pytest.fixture
def pod_of_job(k8s_cluster: K8sCluster, k8s_namespace: str) -> Callable[[str], Any]:
    """The single pod of a Job (the tests use backoffLimit 0, so there is exactly one)."""

    def find(job_name: str) -> Any:
        pods = k8s_cluster.core_v1.list_namespaced_pod(
            k8s_namespace, label_selector=f"{JOB_NAME_LABEL}={job_name}"
        ).items
        assert len(pods) == 1, [p.metadata.name for p in pods]
        return pods[0]

    return find
