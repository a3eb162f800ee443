"""The node the suite runs on is a real one: a container runtime, real images, pod networking, Services.

These hold on the local cluster and on kind alike.
"""

from __future__ import annotations

import uuid
from typing import Any

from dagster_ext.testing.images.catalog import BUSYBOX_IMAGE, USER_CODE_IMAGE
from dagster_ext.testing.job_manifests import JOB_NAME_LABEL, job_manifest
from dagster_ext.testing.pytest_plugin import K8sCluster
from dagster_ext.testing.waiting import wait_for


def _run_to_completion(k8s_cluster: K8sCluster, namespace: str, manifest: dict[str, Any]) -> Any:
    name = manifest["metadata"]["name"]
    k8s_cluster.batch_v1.create_namespaced_job(namespace, manifest)
    return wait_for(
        k8s_cluster.core_v1.list_namespaced_pod,
        namespace,
        lambda p: p.status.phase in ("Succeeded", "Failed"),
        timeout_s=120,
        what=f"the pod of Job {name} to end",
        label_selector=f"{JOB_NAME_LABEL}={name}",
    )


def test_the_node_is_ready_on_containerd(k8s_cluster: K8sCluster) -> None:
    nodes = k8s_cluster.core_v1.list_node().items
    assert nodes
    for node in nodes:
        assert node.status.node_info.container_runtime_version.startswith("containerd://")
        ready = {c.type: c.status for c in node.status.conditions}["Ready"]
        assert ready == "True", node.metadata.name


def test_a_busybox_pod_prints_a_line_read_back_through_the_api(
    k8s_cluster: K8sCluster, k8s_namespace: str
) -> None:
    line = f"hello from a real container {uuid.uuid4().hex}"
    command = ["sh", "-c", f"echo '{line}'; head -1 /proc/self/cgroup"]
    manifest = job_manifest("echo", command, image=BUSYBOX_IMAGE)
    pod = _run_to_completion(k8s_cluster, k8s_namespace, manifest)
    assert pod.status.phase == "Succeeded"
    assert pod.status.container_statuses[0].container_id.startswith("containerd://")
    log = k8s_cluster.pod_log(pod.metadata.name, k8s_namespace)
    assert log.splitlines()[0] == line
    assert "kubepods" in log  # the container runs in the kubelet's pod cgroup, not as a host process


def test_the_user_code_image_reaches_the_api_in_cluster(k8s_cluster: K8sCluster, k8s_namespace: str) -> None:
    """Through the `kubernetes` Service (kube-proxy) with the pod's ServiceAccount token."""
    k8s_cluster.rbac_v1.create_namespaced_role_binding(
        k8s_namespace,
        {
            "metadata": {"name": "view"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": k8s_namespace}],
        },
    )
    script = (
        "import dagster, dagster_ext, kubernetes\n"
        "kubernetes.config.load_incluster_config()\n"
        f"pods = kubernetes.client.CoreV1Api().list_namespaced_pod({k8s_namespace!r}).items\n"
        "print('pods', len(pods), 'dagster', dagster.__version__)\n"
    )
    manifest = job_manifest("incluster", ["python", "-c", script], image=USER_CODE_IMAGE)
    pod = _run_to_completion(k8s_cluster, k8s_namespace, manifest)
    log = k8s_cluster.pod_log(pod.metadata.name, k8s_namespace)
    assert pod.status.phase == "Succeeded", log
    assert log.startswith("pods 1 dagster "), log
