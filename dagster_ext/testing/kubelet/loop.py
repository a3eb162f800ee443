"""The pod loop: list, then watch from the list's resourceVersion, re-list on 410 Gone or after
an error, reconnecting with backoff. Each event goes to the binder (unbound pods) or the
supervisor (pods on our node). Sleep is injectable and the loop ends when `stop` is set."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from dagster_ext.k8s.client.errors import K8sApiError, K8sGone

JsonDict = dict[str, Any]
log = logging.getLogger(__name__)


class PodSource(Protocol):
    def list_pods(self) -> tuple[list[JsonDict], str]: ...

    def watch_pods(
        self, resource_version: str, *, server_timeout_s: int, inactivity_timeout_s: float
    ) -> Iterator[tuple[str, JsonDict]]: ...


class PodSink(Protocol):
    def sync(self, pods: list[JsonDict]) -> None: ...

    def pod_changed(self, pod: JsonDict) -> None: ...

    def pod_deleted(self, pod: JsonDict) -> None: ...


@dataclass(frozen=True)
class LoopSettings:
    server_timeout_s: int = 60
    inactivity_timeout_s: float = 90.0
    reconnect_backoff_s: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 5.0)


def _version(obj: JsonDict, default: str) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or default)


class PodLoop:
    def __init__(
        self,
        source: PodSource,
        sink: PodSink,
        *,
        settings: LoopSettings | None = None,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self._source = source
        self._sink = sink
        self._settings = settings or LoopSettings()
        self._sleep = sleep
        self.synced = threading.Event()

    def run(self, stop: threading.Event, *, max_passes: int | None = None) -> None:
        version: str | None = None
        failures = passes = 0
        sleep = self._sleep or stop.wait
        while not stop.is_set() and (max_passes is None or passes < max_passes):
            passes += 1
            try:
                if version is None:
                    version = self._relist()
                version = self._watch(version, stop)
                failures = 0
            except K8sGone:
                log.info("pod watch expired; listing again")
                version = None
            except K8sApiError as err:
                if stop.is_set():
                    return
                backoff = self._settings.reconnect_backoff_s
                log.warning("pod watch failed (%s); reconnecting", err)
                sleep(backoff[min(failures, len(backoff) - 1)])
                failures += 1
                version = None

    def _relist(self) -> str:
        pods, version = self._source.list_pods()
        self._sink.sync(pods)
        self.synced.set()
        return version

    def _watch(self, version: str, stop: threading.Event) -> str:
        events = self._source.watch_pods(
            version,
            server_timeout_s=self._settings.server_timeout_s,
            inactivity_timeout_s=self._settings.inactivity_timeout_s,
        )
        for kind, obj in events:
            version = _version(obj, version)
            if kind == "DELETED":
                self._sink.pod_deleted(obj)
            elif kind in ("ADDED", "MODIFIED"):
                self._sink.pod_changed(obj)
            if stop.is_set():
                break
        return version


class PodBinder(Protocol):
    def consider(self, pod: JsonDict) -> None: ...

    def forget(self, uid: str) -> None: ...


class PodSupervisor(Protocol):
    def uids(self) -> set[str]: ...

    def observe(self, pod: JsonDict) -> None: ...

    def removed(self, uid: str) -> None: ...


class Dispatcher:
    """Routes pods: unbound → binder; bound to us → supervisor; others are ignored."""

    def __init__(self, *, node_name: str, binder: PodBinder, supervisor: PodSupervisor) -> None:
        self._node_name = node_name
        self._binder = binder
        self._supervisor = supervisor

    def sync(self, pods: list[JsonDict]) -> None:
        present = {str(p["metadata"].get("uid")) for p in pods}
        for uid in self._supervisor.uids() - present:
            self._supervisor.removed(uid)
        for pod in pods:
            self.pod_changed(pod)

    def pod_changed(self, pod: JsonDict) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            self._binder.consider(pod)
        elif node == self._node_name:
            self._binder.forget(str(pod["metadata"].get("uid")))
            self._supervisor.observe(pod)

    def pod_deleted(self, pod: JsonDict) -> None:
        uid = str(pod["metadata"].get("uid"))
        self._binder.forget(uid)
        self._supervisor.removed(uid)
