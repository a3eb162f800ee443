"""A pod that waits behind other pods for CPU is not failed as Unschedulable: it runs when they
finish. The node is filled by a blocker pod; the K8s Job's pod asks for what an empty node has."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from dagster import job
from kubernetes.utils import parse_quantity

from dagster_ext.k8s import k8s_job_op
from tests.integration.k8s_job.harness import dagster_instance, external_pods, op_config, run_in_background

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
GRACE = {"image_pull": 0, "unschedulable": 2, "container_config": 2}
STEP_CPU = "500m"


@job
def external() -> None:
    k8s_job_op.alias("external")()


def _free_cpu(k8s_cluster: Any) -> tuple[str, Any]:
    """The node and the CPU its pods have not requested yet."""
    (node,) = k8s_cluster.core_v1.list_node().items
    requested = sum(
        parse_quantity(container.resources.requests.get("cpu", "0"))
        for pod in k8s_cluster.core_v1.list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={node.metadata.name}"
        ).items
        if pod.status.phase in ("Pending", "Running")
        for container in pod.spec.containers
        if container.resources and container.resources.requests
    )
    return node.metadata.name, parse_quantity(node.status.allocatable["cpu"]) - requested


def _blocker(namespace: str, node: str, cpu_m: int) -> dict[str, Any]:
    container = {
        "name": "blocker",
        "image": "busybox",
        "command": ["sh", "-c", "sleep 600"],
        "resources": {"requests": {"cpu": f"{cpu_m}m"}},
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "capacity-blocker", "namespace": namespace},
        "spec": {"nodeName": node, "containers": [container], "terminationGracePeriodSeconds": 0},
    }


def _wait(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def _unschedulable_for_cpu(k8s_cluster: Any, namespace: str) -> bool:
    for pod in external_pods(k8s_cluster, namespace):
        for condition in pod.status.conditions or []:
            if condition.reason == "Unschedulable" and "Insufficient cpu" in (condition.message or ""):
                return True
    return False


def test_a_pod_waiting_for_busy_nodes_runs_when_they_free_up(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    node, free = _free_cpu(k8s_cluster)
    free_m = int(free * 1000)
    assert free_m > 600, f"the node has only {free_m}m CPU unrequested"
    # leave less than the step asks for, so its pod cannot be placed until the blocker goes
    k8s_cluster.core_v1.create_namespaced_pod(k8s_namespace, _blocker(k8s_namespace, node, free_m - 300))
    config = op_config(
        k8s_cluster.kubeconfig_path,
        failure_grace_seconds=GRACE,
        command=["sh", "-c", "echo ran"],
        resources={"requests": {"cpu": STEP_CPU}},
    )
    with dagster_instance(k8s_namespace, k8s_cluster.kubeconfig_path, tmp_path) as instance:
        run = run_in_background(external, instance, {"ops": {"external": {"config": config}}})
        _wait(lambda: _unschedulable_for_cpu(k8s_cluster, k8s_namespace), 60, "no Insufficient cpu")
        time.sleep(3 * GRACE["unschedulable"])  # well past the unschedulable grace
        assert run.thread.is_alive(), "the step failed although its pod only waited for capacity"
        k8s_cluster.core_v1.delete_namespaced_pod("capacity-blocker", k8s_namespace, grace_period_seconds=0)
        result = run.join(180)
    assert result.success
    (pod,) = external_pods(k8s_cluster, k8s_namespace)
    assert pod.status.phase == "Succeeded"
