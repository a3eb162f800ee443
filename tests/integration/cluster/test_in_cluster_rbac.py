"""A pod's ServiceAccount token works through in-cluster config, and RBAC limits it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from dagster_ext.testing.job_manifests import job_manifest
from dagster_ext.testing.pytest_plugin import K8sCluster
from dagster_ext.testing.waiting import job_condition, wait_for_named

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]

SCRIPT = """
import json
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

config.load_incluster_config()
with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
    namespace = f.read().strip()
child = {
    "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "child"},
    "spec": {"suspend": True, "template": {"spec": {"restartPolicy": "Never",
        "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}},
}
created = client.BatchV1Api().create_namespaced_job(namespace, child).metadata.name
try:
    client.CoreV1Api().read_namespaced_secret("app-secret", namespace)
    secret = "read"
except ApiException as err:
    secret = err.status
print(json.dumps({"created": created, "secret": secret}))
"""


def _grant_jobs_only(k8s_cluster: K8sCluster, namespace: str) -> None:
    k8s_cluster.core_v1.create_namespaced_service_account(namespace, {"metadata": {"name": "job-creator"}})
    rule = {
        "apiGroups": ["batch"],
        "resources": ["jobs"],
        "verbs": ["create", "get", "list", "watch", "delete"],
    }
    k8s_cluster.rbac_v1.create_namespaced_role(
        namespace, {"metadata": {"name": "jobs-only"}, "rules": [rule]}
    )
    binding = {
        "metadata": {"name": "job-creator-jobs-only"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "jobs-only"},
        "subjects": [{"kind": "ServiceAccount", "name": "job-creator", "namespace": namespace}],
    }
    k8s_cluster.rbac_v1.create_namespaced_role_binding(namespace, binding)


def test_service_account_may_create_jobs_but_not_read_secrets(
    k8s_cluster: K8sCluster, k8s_namespace: str, pod_of_job: Callable[[str], Any]
) -> None:
    _grant_jobs_only(k8s_cluster, k8s_namespace)
    k8s_cluster.core_v1.create_namespaced_secret(
        k8s_namespace, {"metadata": {"name": "app-secret"}, "stringData": {"k": "v"}}
    )
    manifest = job_manifest(
        "parent", ["python", "-c", SCRIPT], pod_spec={"serviceAccountName": "job-creator"}
    )
    k8s_cluster.batch_v1.create_namespaced_job(k8s_namespace, manifest)

    finished = wait_for_named(
        k8s_cluster.batch_v1.list_namespaced_job,
        k8s_namespace,
        "parent",
        lambda j: job_condition(j) is not None,
        timeout_s=60,
    )
    log = k8s_cluster.pod_log(pod_of_job("parent").metadata.name, k8s_namespace)
    assert job_condition(finished) == "Complete", log
    assert json.loads(log.strip().splitlines()[-1]) == {"created": "child", "secret": 403}
    child = k8s_cluster.batch_v1.read_namespaced_job("child", k8s_namespace)
    assert child.spec.suspend is True
