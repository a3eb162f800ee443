"""The scheduler part: bind pending pods that fit our node, mark the others Unschedulable.

Unschedulable pods are re-evaluated on every node heartbeat, so relabelling the node (or a
taint going away) lets them schedule, as kube-scheduler's requeue would.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from dagster_ext.errors import DagsterExtError
from dagster_ext.k8s.client.errors import K8sConflict, K8sNotFound
from dagster_ext.testing.kubelet import timefmt
from dagster_ext.testing.kubelet.events import EventRecorder, pod_ref
from dagster_ext.testing.kubelet.podspec import PodKey
from dagster_ext.testing.kubelet.scheduling import evaluate, wants_scheduling

JsonDict = dict[str, Any]
log = logging.getLogger(__name__)
SCHEDULER = "default-scheduler"


class BindingApi(Protocol):
    def bind_pod(self, namespace: str, name: str, uid: str, node_name: str) -> None: ...

    def patch_pod_status(self, namespace: str, name: str, uid: str, status: JsonDict) -> JsonDict: ...


def unschedulable_condition(message: str) -> JsonDict:
    return {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
        "lastProbeTime": None,
        "lastTransitionTime": timefmt.seconds(),
    }


def _current_unschedulable_message(pod: JsonDict) -> str | None:
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "Unschedulable":
            return str(cond.get("message") or "")
    return None


class Binder:
    def __init__(
        self, api: BindingApi, events: EventRecorder, *, node_name: str, node: Callable[[], JsonDict]
    ) -> None:
        self._api = api
        self._events = events
        self._node_name = node_name
        self._node = node
        self._waiting: dict[str, JsonDict] = {}  # uid -> last seen unschedulable pod
        self._lock = threading.Lock()

    def consider(self, pod: JsonDict) -> None:
        uid = PodKey.of(pod).uid
        if not wants_scheduling(pod):
            self.forget(uid)
            return
        fit = evaluate(pod, self._node())
        try:
            if fit.fits:
                self._bind(pod)
            else:
                self._refuse(pod, fit.message)
        except DagsterExtError as err:
            log.warning("scheduling %s failed: %s", PodKey.of(pod), err)

    def forget(self, uid: str) -> None:
        with self._lock:
            self._waiting.pop(uid, None)

    def retry_unschedulable(self, _node: JsonDict | None = None) -> None:
        with self._lock:
            pods = list(self._waiting.values())
        for pod in pods:
            self.consider(pod)

    def _bind(self, pod: JsonDict) -> None:
        key = PodKey.of(pod)
        self.forget(key.uid)
        try:
            self._api.bind_pod(key.namespace, key.name, key.uid, self._node_name)
        except (K8sConflict, K8sNotFound) as err:
            log.debug("not binding %s: %s", key, err)  # bound meanwhile, or deleted
            return
        log.info("bound %s to %s", key, self._node_name)
        self._events.record(
            pod_ref(pod),
            "Scheduled",
            f"Successfully assigned {key} to {self._node_name}",
            component=SCHEDULER,
        )

    def _refuse(self, pod: JsonDict, message: str) -> None:
        key = PodKey.of(pod)
        with self._lock:
            self._waiting[key.uid] = pod
        if _current_unschedulable_message(pod) == message:
            return
        self._api.patch_pod_status(
            key.namespace, key.name, key.uid, {"conditions": [unschedulable_condition(message)]}
        )
        self._events.record(pod_ref(pod), "FailedScheduling", message, warning=True, component=SCHEDULER)
        log.info("pod %s is unschedulable: %s", key, message)
