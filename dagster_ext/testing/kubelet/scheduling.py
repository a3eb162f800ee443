"""Pure scheduling: does a pending pod fit our single node, and if not, why (scheduler wording)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dagster_ext.testing.kubelet.quantity import QuantityError, parse_quantity

JsonDict = dict[str, Any]
DEFAULT_SCHEDULER = "default-scheduler"


@dataclass(frozen=True)
class Fit:
    fits: bool
    reasons: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        """The message kube-scheduler would put on PodScheduled=False / FailedScheduling."""
        if self.fits:
            return ""
        reasons = " ".join(f"1 {reason}." for reason in self.reasons)
        return (
            f"0/1 nodes are available: {reasons} preemption: 0/1 nodes are available: "
            "1 Preemption is not helpful for scheduling."
        )


def wants_scheduling(pod: JsonDict, scheduler_name: str = DEFAULT_SCHEDULER) -> bool:
    spec = pod.get("spec") or {}
    return (
        not spec.get("nodeName")
        and (spec.get("schedulerName") or DEFAULT_SCHEDULER) == scheduler_name
        and not (pod.get("metadata") or {}).get("deletionTimestamp")
        and (pod.get("status") or {}).get("phase", "Pending") == "Pending"
    )


def _expression_matches(expr: JsonDict, values: Mapping[str, str]) -> bool:
    key, op = str(expr["key"]), str(expr["operator"])
    wanted = [str(v) for v in expr.get("values") or ()]
    present = key in values
    if op == "In":
        return present and values[key] in wanted
    if op == "NotIn":
        return not present or values[key] not in wanted
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and len(wanted) == 1:
        try:
            have, limit = int(values[key]), int(wanted[0])
        except ValueError:
            return False
        return have > limit if op == "Gt" else have < limit
    return False


def _term_matches(term: JsonDict, labels: Mapping[str, str], node_name: str) -> bool:
    fields = {"metadata.name": node_name}
    return all(_expression_matches(e, labels) for e in term.get("matchExpressions") or ()) and all(
        _expression_matches(e, fields) for e in term.get("matchFields") or ()
    )


def matches_node_selection(pod: JsonDict, labels: Mapping[str, str], node_name: str) -> bool:
    spec = pod.get("spec") or {}
    selector = spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms") or []
    return not terms or any(_term_matches(t, labels, node_name) for t in terms)


def _tolerates(tolerations: Iterable[JsonDict], taint: JsonDict) -> bool:
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol.get("key") == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def untolerated_taints(pod: JsonDict, node: JsonDict) -> list[JsonDict]:
    tolerations = list((pod.get("spec") or {}).get("tolerations") or ())
    return [
        taint
        for taint in (node.get("spec") or {}).get("taints") or ()
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(tolerations, taint)
    ]


def pod_requests(pod: JsonDict) -> dict[str, Decimal]:
    """Effective requests: sum over containers, at least the largest init container's."""
    spec = pod.get("spec") or {}
    total: dict[str, Decimal] = {}
    for container in spec.get("containers") or ():
        for name, value in ((container.get("resources") or {}).get("requests") or {}).items():
            total[name] = total.get(name, Decimal(0)) + parse_quantity(value)
    for container in spec.get("initContainers") or ():
        for name, value in ((container.get("resources") or {}).get("requests") or {}).items():
            total[name] = max(total.get(name, Decimal(0)), parse_quantity(value))
    return total


def _insufficient(pod: JsonDict, node: JsonDict) -> list[str]:
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    try:
        requests = pod_requests(pod)
        return [
            f"Insufficient {name}"
            for name, amount in sorted(requests.items())
            if name in allocatable and amount > parse_quantity(allocatable[name])
        ]
    except QuantityError:
        return []


def evaluate(pod: JsonDict, node: JsonDict) -> Fit:
    """Whether `pod` may be bound to `node`, with the scheduler's reasons when not."""
    meta = node.get("metadata") or {}
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    reasons: list[str] = []
    if not matches_node_selection(pod, labels, str(meta.get("name") or "")):
        reasons.append("node(s) didn't match Pod's node affinity/selector")
    if (node.get("spec") or {}).get("unschedulable"):
        reasons.append("node(s) were unschedulable")
    for taint in untolerated_taints(pod, node):
        reasons.append(f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value') or ''}}}")
    reasons.extend(_insufficient(pod, node))
    return Fit(not reasons, tuple(reasons))
