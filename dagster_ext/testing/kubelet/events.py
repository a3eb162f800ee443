"""Kubelet-style core/v1 Events, posted from a background thread so pods never wait on them.

Repeats of the same (object, reason, message) bump `count` and `lastTimestamp` of the first
Event, as the real event recorder's aggregation does. Messages never contain Secret values.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from dagster_ext.errors import DagsterExtError
from dagster_ext.testing.kubelet import timefmt

JsonDict = dict[str, Any]
log = logging.getLogger(__name__)


class EventSink(Protocol):
    def create_event(self, namespace: str, body: JsonDict) -> None: ...

    def patch_event(self, namespace: str, name: str, patch: JsonDict) -> None: ...


@dataclass(frozen=True)
class ObjectRef:
    kind: str
    name: str
    uid: str
    namespace: str = ""
    field_path: str = ""
    api_version: str = "v1"

    @property
    def event_namespace(self) -> str:
        return self.namespace or "default"

    def as_involved(self) -> JsonDict:
        ref: JsonDict = {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
        }
        if self.namespace:
            ref["namespace"] = self.namespace
        if self.field_path:
            ref["fieldPath"] = self.field_path
        return ref


def pod_ref(pod: JsonDict, container: str = "", *, init: bool = False) -> ObjectRef:
    meta = pod["metadata"]
    field_path = f"spec.{'initContainers' if init else 'containers'}{{{container}}}" if container else ""
    return ObjectRef("Pod", str(meta["name"]), str(meta.get("uid") or ""), str(meta["namespace"]), field_path)


def event_body(
    ref: ObjectRef,
    *,
    reason: str,
    message: str,
    warning: bool,
    node_name: str,
    name: str,
    component: str = "kubelet",
) -> JsonDict:
    now = timefmt.seconds()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": ref.event_namespace},
        "involvedObject": ref.as_involved(),
        "reason": reason,
        "message": message,
        "type": "Warning" if warning else "Normal",
        "source": {"component": component, "host": node_name},
        "reportingComponent": component,
        "reportingInstance": node_name,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


@dataclass(frozen=True)
class _Pending:
    ref: ObjectRef
    reason: str
    message: str
    warning: bool
    component: str


class EventRecorder:
    def __init__(self, sink: EventSink, *, node_name: str) -> None:
        self._sink = sink
        self._node_name = node_name
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._seen: dict[tuple[str, str, str, str], tuple[str, int]] = {}
        self._thread = threading.Thread(target=self._run, name="kubelet-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Post what is queued (up to `timeout_s`), then end the sender thread."""
        self._queue.put(None)
        self._thread.join(timeout_s)

    def record(
        self, ref: ObjectRef, reason: str, message: str, *, warning: bool = False, component: str = "kubelet"
    ) -> None:
        self._queue.put(_Pending(ref, reason, message, warning, component))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self._post(item)
            except DagsterExtError as err:
                log.warning("could not post event %s for %s: %s", item.reason, item.ref.name, err)

    def _post(self, item: _Pending) -> None:
        key = (item.ref.uid, item.ref.field_path, item.reason, item.message)
        namespace = item.ref.event_namespace
        if key in self._seen:
            name, count = self._seen[key]
            self._seen[key] = (name, count + 1)
            self._sink.patch_event(namespace, name, {"count": count + 1, "lastTimestamp": timefmt.seconds()})
            return
        name = f"{item.ref.name}.{time.time_ns():x}"
        body = event_body(
            item.ref,
            reason=item.reason,
            message=item.message,
            warning=item.warning,
            node_name=self._node_name,
            name=name,
            component=item.component,
        )
        self._sink.create_event(namespace, body)
        self._seen[key] = (name, 1)
