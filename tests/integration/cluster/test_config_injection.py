"""ConfigMaps and Secrets reach the process: env valueFrom, envFrom and a configMap volume file."""

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
import json, os
names = ["FROM_CM", "FROM_SECRET", "CM_GREETING", "CM_COLOR", "PASSWORD", "PLAIN"]
env = {name: os.environ.get(name) for name in names}
with open("/etc/app/settings.ini") as f:
    env["file"] = f.read()
print(json.dumps(env))
"""


def test_configmap_and_secret_values_are_visible_to_the_process(
    k8s_cluster: K8sCluster, k8s_namespace: str, pod_of_job: Callable[[str], Any]
) -> None:
    core = k8s_cluster.core_v1
    core.create_namespaced_config_map(
        k8s_namespace, {"metadata": {"name": "app-config"}, "data": {"GREETING": "hello", "COLOR": "blue"}}
    )
    core.create_namespaced_config_map(
        k8s_namespace, {"metadata": {"name": "app-files"}, "data": {"settings.ini": "[main]\nmode=test\n"}}
    )
    core.create_namespaced_secret(
        k8s_namespace, {"metadata": {"name": "app-secret"}, "stringData": {"PASSWORD": "s3cret"}}
    )
    container = {
        "env": [
            {"name": "PLAIN", "value": "plain"},
            {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "GREETING"}}},
            {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "app-secret", "key": "PASSWORD"}}},
        ],
        "envFrom": [
            {"configMapRef": {"name": "app-config"}, "prefix": "CM_"},
            {"secretRef": {"name": "app-secret"}},
        ],
        "volumeMounts": [{"name": "files", "mountPath": "/etc/app", "readOnly": True}],
    }
    pod_spec = {"volumes": [{"name": "files", "configMap": {"name": "app-files"}}]}
    manifest = job_manifest("env", ["python", "-c", SCRIPT], container=container, pod_spec=pod_spec)
    k8s_cluster.batch_v1.create_namespaced_job(k8s_namespace, manifest)

    finished = wait_for_named(
        k8s_cluster.batch_v1.list_namespaced_job,
        k8s_namespace,
        "env",
        lambda j: job_condition(j) is not None,
        timeout_s=60,
    )
    pod = pod_of_job("env")
    log = k8s_cluster.pod_log(pod.metadata.name, k8s_namespace)
    assert job_condition(finished) == "Complete", log
    assert json.loads(log) == {
        "FROM_CM": "hello",
        "FROM_SECRET": "s3cret",
        "CM_GREETING": "hello",
        "CM_COLOR": "blue",
        "PASSWORD": "s3cret",
        "PLAIN": "plain",
        "file": "[main]\nmode=test\n",
    }
