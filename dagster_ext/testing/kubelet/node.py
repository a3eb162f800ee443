"""Node registration and heartbeats (node status every `heartbeat_s` and a Lease in
kube-node-lease), so the node stays Ready for the node-lifecycle controller if one runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from dagster_ext.errors import DagsterExtError
from dagster_ext.testing.kubelet import timefmt
from dagster_ext.testing.kubelet.nodeinfo import (
    NodeFacts,
    lease_manifest,
    node_labels,
    node_manifest,
    node_status,
    taints_without_condition_taints,
)

JsonDict = dict[str, Any]
log = logging.getLogger(__name__)


class NodeApi(Protocol):
    def read_node(self, name: str) -> JsonDict | None: ...

    def create_node(self, body: JsonDict) -> JsonDict: ...

    def patch_node(self, name: str, patch: JsonDict, *, status: bool = False) -> JsonDict: ...

    def apply_lease(self, body: JsonDict) -> None: ...


class NodeAgent:
    def __init__(
        self,
        api: NodeApi,
        facts: NodeFacts,
        *,
        heartbeat_s: float = 10.0,
        lease_duration_s: int = 40,
        on_heartbeat: Callable[[JsonDict], None] = lambda _node: None,
    ) -> None:
        self._api = api
        self._facts = facts
        self._heartbeat_s = heartbeat_s
        self._lease_duration_s = lease_duration_s
        self._on_heartbeat = on_heartbeat
        self._registered_at = timefmt.seconds()
        self._node: JsonDict = node_manifest(facts)
        self._lock = threading.Lock()

    @property
    def node(self) -> JsonDict:
        """The latest Node object we saw (labels, taints, allocatable) for scheduling."""
        with self._lock:
            return self._node

    def register(self, stop: threading.Event, *, backoff_s: float = 1.0) -> bool:
        """Create or update the Node until it succeeds (the API may still be starting)."""
        while not stop.is_set():
            try:
                self._register_once()
                log.info("registered node %s", self._facts.name)
                return True
            except DagsterExtError as err:
                log.warning("node registration failed, retrying: %s", err)
                stop.wait(backoff_s)
        return False

    def _register_once(self) -> None:
        existing = self._api.read_node(self._facts.name)
        if existing is None:
            self._api.create_node(node_manifest(self._facts))
        else:
            self._api.patch_node(self._facts.name, {"metadata": {"labels": node_labels(self._facts)}})
        self.heartbeat()

    def heartbeat(self) -> None:
        status = node_status(self._facts, registered_at=self._registered_at, now=timefmt.seconds())
        node = self._api.patch_node(self._facts.name, {"status": status}, status=True)
        if (kept := taints_without_condition_taints(node)) is not None:
            log.info("node is Ready: removing the not-ready/unreachable taints")
            node = self._api.patch_node(self._facts.name, {"spec": {"taints": kept}})
        with self._lock:
            self._node = node
        uid = str((node.get("metadata") or {}).get("uid") or "")
        try:
            self._api.apply_lease(
                lease_manifest(
                    self._facts, node_uid=uid, renew_time=timefmt.micros(), duration_s=self._lease_duration_s
                )
            )
        except DagsterExtError as err:
            log.debug("lease renewal failed (node status still heartbeats): %s", err)
        self._on_heartbeat(node)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self._heartbeat_s):
            try:
                self.heartbeat()
            except DagsterExtError as err:
                log.warning("node heartbeat failed: %s", err)
