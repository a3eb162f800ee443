"""Whether an Unschedulable pod is waiting for capacity or can never run as asked.

The scheduler writes the same "Insufficient cpu" for a pod that waits behind other pods on a busy
node and for one that asks for more than any node has. The first is a queue (it runs when others
finish: a fan-out of many steps on a small cluster), the second is a configuration error. Only
the nodes' allocatable resources tell them apart, so a pod counts as waiting for capacity when the
scheduler names nothing but missing resources and its requests fit some schedulable node when it
is empty.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from dagster_ext.k8s.quantities import is_quantity, parse_quantity
from dagster_ext.k8s.status.pods import JsonDict

Resources = Mapping[str, Decimal]

# "0/3 nodes are available: 2 Insufficient cpu, 1 Insufficient memory. preemption: ..."
_NODE_REASONS_RE = re.compile(r"nodes are available: (?P<reasons>[^.]*)")
_COUNTED_RE = re.compile(r"^\d+ (?P<reason>.+)$")
_CAPACITY_REASONS = ("Insufficient ", "Too many pods")


def short_of_capacity_only(message: str) -> bool:
    """True when every reason the scheduler gives for every node is a missing resource."""
    match = _NODE_REASONS_RE.search(message)
    if match is None:
        return False
    reasons = [part.strip() for part in match.group("reasons").split(",") if part.strip()]
    if not reasons:
        return False
    for part in reasons:
        counted = _COUNTED_RE.match(part)
        reason = counted.group("reason") if counted else part
        if not reason.startswith(_CAPACITY_REASONS):
            return False
    return True


def _quantities(values: object) -> dict[str, Decimal]:
    if not isinstance(values, Mapping):
        return {}
    return {str(k): parse_quantity(v) for k, v in values.items() if is_quantity(v)}


def _container_requests(container: JsonDict) -> dict[str, Decimal]:
    """Requests, defaulting to limits as the API server does when only limits are set."""
    resources = container.get("resources") or {}
    found = _quantities(resources.get("limits"))
    found.update(_quantities(resources.get("requests")))
    return found


def _add(total: dict[str, Decimal], more: Resources) -> None:
    for key, value in more.items():
        total[key] = total.get(key, Decimal(0)) + value


def pod_requests(pod: JsonDict) -> dict[str, Decimal]:
    """What the scheduler reserves for the pod: the larger of its running containers (plus native
    sidecars) and any one init container, plus the pod's overhead."""
    spec = pod.get("spec") or {}
    running: dict[str, Decimal] = {}
    peak: dict[str, Decimal] = {}
    sidecars: dict[str, Decimal] = {}
    for init in spec.get("initContainers") or ():
        wanted = _container_requests(init)
        if init.get("restartPolicy") == "Always":
            _add(sidecars, wanted)
            continue
        during = dict(sidecars)
        _add(during, wanted)
        for key, value in during.items():
            peak[key] = max(peak.get(key, Decimal(0)), value)
    _add(running, sidecars)
    for container in spec.get("containers") or ():
        _add(running, _container_requests(container))
    total = {key: max(running.get(key, Decimal(0)), peak.get(key, Decimal(0))) for key in {*running, *peak}}
    _add(total, _quantities(spec.get("overhead")))
    return total


@dataclass(frozen=True)
class NodeCapacity:
    """The allocatable resources of each node that takes new pods."""

    nodes: tuple[Resources, ...]

    @classmethod
    def from_nodes(cls, nodes: Sequence[JsonDict]) -> NodeCapacity:
        allocatable = tuple(
            _quantities((node.get("status") or {}).get("allocatable"))
            for node in nodes
            if not (node.get("spec") or {}).get("unschedulable")
        )
        return cls(allocatable)

    def fits_empty_node(self, pod: JsonDict) -> bool:
        """Whether some node could run the pod once the pods it holds now were gone."""
        wanted = pod_requests(pod)
        wanted.setdefault("pods", Decimal(1))
        return any(
            all(node.get(key, Decimal(0)) >= value for key, value in wanted.items() if value > 0)
            for node in self.nodes
        )
