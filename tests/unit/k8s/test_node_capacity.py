"""Nodes are listed only for a pod short of resources, at most once a refresh interval, and a
denied list is not asked again."""

from __future__ import annotations

from typing import Any

from dagster_ext.k8s.client.errors import K8sForbidden, K8sUnavailable
from dagster_ext.k8s.node_capacity import NodeCapacityCache

NODE = {"spec": {}, "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"}}}


def pod(message: str) -> dict[str, Any]:
    condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
    return {
        "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]},
        "status": {"conditions": [condition]},
    }


SHORT = pod("0/1 nodes are available: 1 Insufficient cpu.")
TAINTED = pod("0/1 nodes are available: 1 node(s) had untolerated taint {a: b}.")


class Gateway:
    def __init__(self, *answers: list[dict[str, Any]] | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    def list_nodes(self) -> list[dict[str, Any]]:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_nodes_are_read_only_for_a_pod_short_of_resources_and_then_remembered() -> None:
    gateway, clock = Gateway([NODE]), Clock()
    cache = NodeCapacityCache(gateway, refresh_s=60, clock=clock)  # type: ignore[arg-type]
    assert cache.for_pods([TAINTED]) is None and gateway.calls == 0
    capacity = cache.for_pods([SHORT])
    assert capacity is not None and capacity.fits_empty_node(SHORT)
    clock.now = 59
    assert cache.for_pods([SHORT]) is capacity and gateway.calls == 1
    clock.now = 61
    assert cache.for_pods([SHORT]) is not None and gateway.calls == 2


def test_a_denied_node_list_is_not_asked_again() -> None:
    gateway, clock = Gateway(K8sForbidden("list nodes", status=403)), Clock()
    cache = NodeCapacityCache(gateway, refresh_s=1, clock=clock)  # type: ignore[arg-type]
    assert cache.for_pods([SHORT]) is None
    clock.now = 100
    assert cache.for_pods([SHORT]) is None and gateway.calls == 1


def test_an_unavailable_api_keeps_the_last_answer() -> None:
    gateway, clock = Gateway([NODE], K8sUnavailable("list nodes")), Clock()
    cache = NodeCapacityCache(gateway, refresh_s=1, clock=clock)  # type: ignore[arg-type]
    first = cache.get()
    clock.now = 5
    assert cache.get() is first and first is not None and gateway.calls == 2
