from __future__ import annotations

import threading
from typing import Any

from dagster_ext.testing.kubelet.node import NodeAgent
from dagster_ext.testing.kubelet.nodeinfo import NodeFacts

JsonDict = dict[str, Any]


class Api:
    def __init__(self, existing: JsonDict | None) -> None:
        self.node = existing
        self.calls: list[tuple[str, JsonDict]] = []
        self.leases: list[JsonDict] = []

    def read_node(self, name: str) -> JsonDict | None:
        return self.node

    def create_node(self, body: JsonDict) -> JsonDict:
        self.calls.append(("create", body))
        self.node = {**body, "metadata": {**body["metadata"], "uid": "node-uid"}}
        return self.node

    def patch_node(self, name: str, patch: JsonDict, *, status: bool = False) -> JsonDict:
        self.calls.append(("status" if status else "patch", patch))
        assert self.node is not None
        if "spec" in patch:
            self.node["spec"] = {**self.node.get("spec", {}), **patch["spec"]}
        return self.node

    def apply_lease(self, body: JsonDict) -> None:
        self.leases.append(body)


FACTS = NodeFacts(name="n", port=10250, labels={"tier": "x"}, cpu="64", memory_bytes=8 * 2**30)


def test_registers_ready_node_with_lease_and_endpoint() -> None:
    api = Api(existing=None)
    assert NodeAgent(api, FACTS).register(threading.Event())
    kind, body = api.calls[0]
    assert kind == "create"
    assert body["metadata"]["labels"] == {
        "kubernetes.io/hostname": "n",
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": body["metadata"]["labels"]["kubernetes.io/arch"],
        "tier": "x",
    }
    status = api.calls[1][1]["status"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    assert status["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}
    assert status["capacity"] == {"cpu": "64", "memory": "8388608Ki", "pods": "110"}
    assert {"type": "InternalIP", "address": "127.0.0.1"} in status["addresses"]
    lease = api.leases[0]
    assert lease["metadata"]["namespace"] == "kube-node-lease"
    assert lease["metadata"]["ownerReferences"][0]["uid"] == "node-uid"


def test_existing_node_gets_labels_and_loses_condition_taints() -> None:
    taints = [
        {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},
        {"key": "dedicated", "value": "x", "effect": "NoSchedule"},
    ]
    api = Api(existing={"metadata": {"name": "n", "uid": "u"}, "spec": {"taints": taints}})
    seen: list[JsonDict] = []
    agent = NodeAgent(api, FACTS, on_heartbeat=seen.append)
    assert agent.register(threading.Event())
    assert api.calls[0][0] == "patch" and "labels" in api.calls[0][1]["metadata"]
    assert api.node is not None and api.node["spec"]["taints"] == [taints[1]]
    assert seen and agent.node is api.node
