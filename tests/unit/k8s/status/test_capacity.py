"""A pod short of resources on busy nodes waits; one that can never fit fails after its grace."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from dagster_ext.k8s.status import (
    DiagnosisSettings,
    FailureReason,
    K8sJobState,
    NodeCapacity,
    diagnose,
    short_of_capacity_only,
)
from dagster_ext.k8s.status.capacity import pod_requests

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
BUSY = (
    "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: "
    "1 No preemption victims found for incoming pod."
)


def node(cpu: str = "2", memory: str = "8Gi", *, unschedulable: bool = False) -> dict[str, Any]:
    return {
        "spec": {"unschedulable": unschedulable},
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"}},
    }


def pending_pod(cpu: str, *, message: str = BUSY, waited_s: float = 3600) -> dict[str, Any]:
    since = (NOW - timedelta(seconds=waited_s)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "metadata": {"name": "p", "creationTimestamp": since, "labels": {"job-name": "j"}},
        "spec": {"containers": [{"name": "dagster", "resources": {"requests": {"cpu": cpu}}}]},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": message,
                    "lastTransitionTime": since,
                }
            ],
        },
    }


K8S_JOB = {"metadata": {"name": "j"}, "spec": {"backoffLimit": 0}, "status": {}}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (BUSY, True),
        ("0/3 nodes are available: 2 Insufficient cpu, 1 Insufficient memory.", True),
        ("0/2 nodes are available: 2 Too many pods.", True),
        ("0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity.", False),
        ("0/1 nodes are available: 1 node(s) had untolerated taint {a: b}.", False),
        ("pod has unbound immediate PersistentVolumeClaims", False),
        ("", False),
    ],
)
def test_only_missing_resources_count_as_short_of_capacity(message: str, expected: bool) -> None:
    assert short_of_capacity_only(message) is expected


def test_requests_default_to_limits_and_count_init_containers_and_sidecars() -> None:
    pod = {
        "spec": {
            "initContainers": [
                {"name": "setup", "resources": {"requests": {"cpu": "3"}}},
                {"name": "proxy", "restartPolicy": "Always", "resources": {"limits": {"cpu": "500m"}}},
            ],
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
                {"name": "b", "resources": {"limits": {"memory": "1Gi"}}},
            ],
            "overhead": {"cpu": "100m"},
        }
    }
    wanted = pod_requests(pod)
    assert wanted["cpu"] == Decimal("3.1")  # the init container's 3 beats 1 + 0.5, plus overhead
    assert wanted["memory"] == Decimal(2 * 2**30)


def test_a_pod_that_fits_an_empty_node_waits_without_limit() -> None:
    capacity = NodeCapacity.from_nodes([node("2")])
    found = diagnose(k8s_job=K8S_JOB, pods=[pending_pod("1500m")], now=NOW, capacity=capacity)
    assert (found.state, found.reason) == (K8sJobState.PENDING, FailureReason.WAITING_FOR_CAPACITY)
    assert "Insufficient cpu" in found.detail


def test_the_capacity_grace_bounds_the_wait_when_set() -> None:
    capacity = NodeCapacity.from_nodes([node("2")])
    settings = DiagnosisSettings(capacity_grace_s=600)
    found = diagnose(k8s_job=K8S_JOB, pods=[pending_pod("1")], now=NOW, settings=settings, capacity=capacity)
    assert (found.state, found.reason) == (K8sJobState.FAILED, FailureReason.WAITING_FOR_CAPACITY)


def test_a_pod_larger_than_every_node_is_unschedulable_after_its_grace() -> None:
    capacity = NodeCapacity.from_nodes([node("2"), node("64", unschedulable=True)])
    found = diagnose(k8s_job=K8S_JOB, pods=[pending_pod("64")], now=NOW, capacity=capacity)
    assert (found.state, found.reason) == (K8sJobState.FAILED, FailureReason.UNSCHEDULABLE)


def test_without_node_capacity_every_unschedulable_pod_has_the_unschedulable_grace() -> None:
    found = diagnose(k8s_job=K8S_JOB, pods=[pending_pod("1")], now=NOW)
    assert (found.state, found.reason) == (K8sJobState.FAILED, FailureReason.UNSCHEDULABLE)
    early = diagnose(k8s_job=K8S_JOB, pods=[pending_pod("1", waited_s=5)], now=NOW)
    assert (early.state, early.reason) == (K8sJobState.PENDING, FailureReason.UNSCHEDULABLE)


def test_other_reasons_than_resources_are_unschedulable_even_when_the_pod_fits() -> None:
    message = "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
    capacity = NodeCapacity.from_nodes([node("2")])
    found = diagnose(k8s_job=K8S_JOB, pods=[pending_pod("1", message=message)], now=NOW, capacity=capacity)
    assert found.reason is FailureReason.UNSCHEDULABLE and found.failed


def test_the_capacity_grace_comes_from_the_config() -> None:
    assert DiagnosisSettings.from_config({}).capacity_grace_s is None
    grace = {"failure_grace_seconds": {"capacity": 900}}
    assert DiagnosisSettings.from_config(grace).capacity_grace_s == 900.0
