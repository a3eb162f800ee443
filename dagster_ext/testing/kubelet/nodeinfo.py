"""Pure builders for our Node, its status and its heartbeat Lease."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]
LEASE_NAMESPACE = "kube-node-lease"
# Put on new nodes by the TaintNodesByCondition admission plugin; normally removed by the
# node-lifecycle controller once the node is Ready. The local cluster does not run it.
CONDITION_TAINTS = frozenset({"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"})
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64", "ppc64le": "ppc64le", "s390x": "s390x"}


@dataclass(frozen=True)
class NodeFacts:
    """What we register; the machine-specific parts are gathered by `node.gather_facts`."""

    name: str
    port: int
    labels: Mapping[str, str]
    cpu: str
    memory_bytes: int
    pods: int = 110
    ephemeral_storage_bytes: int = 0
    kubelet_version: str = "v0.0.0"
    machine: Mapping[str, str] = field(default_factory=dict)


def architecture() -> str:
    machine = platform.machine()
    return _ARCH.get(machine, machine)


def node_labels(facts: NodeFacts) -> dict[str, str]:
    return {
        "kubernetes.io/hostname": facts.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": architecture(),
        **facts.labels,
    }


def node_manifest(facts: NodeFacts) -> JsonDict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": facts.name, "labels": node_labels(facts)},
        "spec": {},
    }


def _resources(facts: NodeFacts) -> dict[str, str]:
    resources = {"cpu": facts.cpu, "memory": f"{facts.memory_bytes // 1024}Ki", "pods": str(facts.pods)}
    if facts.ephemeral_storage_bytes:
        resources["ephemeral-storage"] = f"{facts.ephemeral_storage_bytes // 1024}Ki"
    return resources


_CONDITIONS = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def node_status(facts: NodeFacts, *, registered_at: str, now: str) -> JsonDict:
    machine = facts.machine
    return {
        "capacity": _resources(facts),
        "allocatable": _resources(facts),
        "conditions": [
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": now,
                "lastTransitionTime": registered_at,
            }
            for kind, status, reason, message in _CONDITIONS
        ],
        "addresses": [
            {"type": "InternalIP", "address": "127.0.0.1"},
            {"type": "Hostname", "address": facts.name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": facts.port}},
        "nodeInfo": {
            "machineID": machine.get("machineID", ""),
            "systemUUID": machine.get("systemUUID", ""),
            "bootID": machine.get("bootID", ""),
            "kernelVersion": platform.release(),
            "osImage": machine.get("osImage", "Linux"),
            "containerRuntimeVersion": "process://dagster-ext",
            "kubeletVersion": facts.kubelet_version,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": architecture(),
        },
    }


def lease_manifest(facts: NodeFacts, *, node_uid: str, renew_time: str, duration_s: int) -> JsonDict:
    owner = {"apiVersion": "v1", "kind": "Node", "name": facts.name, "uid": node_uid}
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": facts.name,
            "namespace": LEASE_NAMESPACE,
            "ownerReferences": [owner] if node_uid else [],
        },
        "spec": {"holderIdentity": facts.name, "leaseDurationSeconds": duration_s, "renewTime": renew_time},
    }


def taints_without_condition_taints(node: JsonDict) -> list[JsonDict] | None:
    """The node's taints minus the not-ready/unreachable ones; None when there is nothing to remove."""
    taints = list((node.get("spec") or {}).get("taints") or ())
    kept = [t for t in taints if t.get("key") not in CONDITION_TAINTS]
    return kept if len(kept) != len(taints) else None
