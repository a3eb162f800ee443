"""A step pod disrupted from outside — preempted by kube-scheduler for a pod of a higher
PriorityClass, or evicted through the Eviction API as a node drain does — is reported as what
happened (not as a failure of the user's code) and retried per its RetryPolicy; the run succeeds."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.step_executor.test_step_executor import location
from tests.integration.step_jobs import step_pods

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def high_priority(k8s_cluster: Any) -> Iterator[str]:
    """A PriorityClass (cluster-scoped, so deleted here rather than with the namespace)."""
    from kubernetes import client

    name = f"dagster-ext-test-high-{uuid.uuid4().hex[:6]}"
    api = client.SchedulingV1Api(k8s_cluster.api_client())
    api.create_priority_class(
        {"metadata": {"name": name}, "value": 1000000, "preemptionPolicy": "PreemptLowerPriority"}
    )
    try:
        yield name
    finally:
        api.delete_priority_class(name)


def _preemptor(name: str, priority_class: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "priorityClassName": priority_class,
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": "busybox",
                    "command": ["sleep", "3"],
                    "resources": {"requests": {"cpu": "1500m"}},
                }
            ],
        },
    }


def _preempt(k8s_cluster: Any, namespace: str, pod: Any, priority_class: str) -> None:
    k8s_cluster.core_v1.create_namespaced_pod(namespace, _preemptor("preemptor", priority_class))


def _evict(k8s_cluster: Any, namespace: str, pod: Any, priority_class: str) -> None:
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod.metadata.name}}
    k8s_cluster.core_v1.create_namespaced_pod_eviction(pod.metadata.name, namespace, eviction)


@pytest.mark.parametrize(
    "disruption", [(_preempt, "preempted"), (_evict, "evicted")], ids=["preempt", "evict"]
)
def test_disrupted_step_is_retried_and_reported_as_disrupted(
    dagster_deployment: Any,
    k8s_cluster: Any,
    k8s_namespace: str,
    high_priority: str,
    disruption: tuple[Any, str],
) -> None:
    disrupt, verb = disruption
    deployment = dagster_deployment(location=location())
    run_id = deployment.launch("step_preempted")
    deadline = time.monotonic() + 120
    while not (
        running := [p for p in step_pods(k8s_cluster, k8s_namespace, run_id) if p.status.phase == "Running"]
    ):
        assert time.monotonic() < deadline, "the step pod never ran"
        time.sleep(0.5)
    disrupt(k8s_cluster, k8s_namespace, running[0], high_priority)
    run = deployment.wait_for_run(run_id, timeout_s=240)
    messages = deployment.event_messages(run_id)
    assert run.status.value == "SUCCESS", messages[-20:]
    disrupted = [m for m in messages if verb in m.lower()]
    assert disrupted, messages[-30:]
    assert not any("exit code 137" in m or "exited with code 137" in m for m in disrupted), disrupted
    assert len({p.metadata.name for p in step_pods(k8s_cluster, k8s_namespace, run_id)}) >= 1
