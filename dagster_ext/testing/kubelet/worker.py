"""One thread per bound pod: sandbox (volumes), init containers in order, then containers.

The worker owns the pod's `PodRecord` and is the only writer of its status. Deletion
(deletionTimestamp, or the object disappearing) and kubelet shutdown both ask running
containers to stop; after deletion the worker reports a terminal status and deletes the pod
with grace 0 and a uid precondition. Finalizers are never touched.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from dagster_ext.errors import DagsterExtError
from dagster_ext.k8s.client.errors import K8sConflict, K8sNotFound
from dagster_ext.testing.kubelet import podspec, timefmt
from dagster_ext.testing.kubelet.containers import ContainerRun
from dagster_ext.testing.kubelet.environment import ObjectLookup, PodContext
from dagster_ext.testing.kubelet.errors import VolumeSetupError
from dagster_ext.testing.kubelet.events import EventRecorder, pod_ref
from dagster_ext.testing.kubelet.logserver import LogIndex
from dagster_ext.testing.kubelet.memory import MemoryControl
from dagster_ext.testing.kubelet.status import (
    TERMINAL_PHASES,
    ContainerRecord,
    build_status,
    new_record,
)
from dagster_ext.testing.kubelet.volumes import VolumeBuilder

JsonDict = dict[str, Any]
log = logging.getLogger(__name__)
STARTED_MARKER = "started"


class PodApi(Protocol):
    def patch_pod_status(self, namespace: str, name: str, uid: str, status: JsonDict) -> JsonDict: ...

    def delete_pod(self, namespace: str, name: str, uid: str) -> None: ...


@dataclass(frozen=True)
class WorkerDeps:
    """Collaborators and settings shared by every pod worker."""

    api: PodApi
    events: EventRecorder
    volumes: VolumeBuilder
    lookup: ObjectLookup
    memory: MemoryControl
    logs: LogIndex
    pods_dir: Path
    node_name: str
    base_env: Mapping[str, str]
    service_env: Mapping[str, str]
    working_dir: str
    use_mount_namespace: bool
    unpullable: Callable[[str], bool] = lambda _image: False
    node_allocatable: Mapping[str, Decimal] = field(default_factory=dict)
    shutdown_grace_s: float = 5.0
    retry_s: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 10.0)
    image_backoff_s: tuple[float, ...] = (10.0, 20.0, 40.0, 80.0, 160.0, 300.0)
    pull_failure_s: float = 1.0


class PodWorker:
    def __init__(self, pod: JsonDict, deps: WorkerDeps) -> None:
        self.key = podspec.PodKey.of(pod)
        self.deps = deps
        self.dir = deps.pods_dir / self.key.dirname
        self.record = new_record(pod, timefmt.seconds())
        self.finished = threading.Event()
        self._pod = pod
        self._lock = threading.RLock()  # the record, and publishing it
        self._flags = threading.Lock()  # the latest pod object and the flags below; never held long
        self._stop = threading.Event()  # wakes sleepers on deletion or shutdown
        self._deleting = podspec.is_deleting(pod)
        self._gone = False
        self._shutdown = False
        self._deleted = False
        self._thread = threading.Thread(target=self._run, name=f"pod-{self.key}", daemon=True)

    # -- called by the supervisor ---------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def observe(self, pod: JsonDict) -> None:
        with self._flags:
            self._pod = pod
            if podspec.is_deleting(pod):
                self._deleting = True
                self._stop.set()

    def removed(self) -> None:
        """The API object is gone (force deletion): stop and never write to it again."""
        with self._flags:
            self._gone = self._deleting = True
            self._stop.set()

    def shutdown(self) -> None:
        with self._flags:
            self._shutdown = True
            self._stop.set()

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)

    # -- used by container runs -----------------------------------------------------------------
    @property
    def pod(self) -> JsonDict:
        with self._flags:
            return self._pod

    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def pause(self, seconds: float) -> bool:
        """Sleep unless asked to stop; True when a stop was requested."""
        return self._stop.wait(seconds)

    def grace_s(self) -> float:
        """The pod's grace period; short when the object is already gone or the kubelet stops."""
        grace = float(podspec.grace_period_s(self.pod))
        if self._gone or (self._shutdown and not self._deleting):
            return min(grace, self.deps.shutdown_grace_s)
        return grace

    def event(
        self, reason: str, message: str, *, container: ContainerRecord | None = None, warning: bool = False
    ) -> None:
        ref = pod_ref(self.pod, container.name if container else "", init=bool(container and container.init))
        self.deps.events.record(ref, reason, message, warning=warning)

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """Change the record inside the block; the pod's status is published at its end."""
        with self._lock:
            yield
            self._publish()

    def mark_started(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / STARTED_MARKER).touch()

    def context(self) -> PodContext:
        return PodContext(self.pod, self.deps.lookup, node_allocatable=self.deps.node_allocatable)

    # -- lifecycle ------------------------------------------------------------------------------
    def _publish(self) -> None:
        if self._gone or (self._shutdown and not self._deleting):
            return
        status = build_status(self.record, timefmt.seconds())
        try:
            self.deps.api.patch_pod_status(self.key.namespace, self.key.name, self.key.uid, status)
        except (K8sNotFound, K8sConflict):
            log.info("pod %s is gone; stopping it", self.key)
            self.removed()
        except DagsterExtError as err:
            log.warning("status update of %s failed (the next one carries it): %s", self.key, err)
        if status["phase"] in TERMINAL_PHASES:
            self.record.terminal_phase = status["phase"]

    def _run(self) -> None:
        try:
            with self.changing():
                pass
            volume_dirs = self._sandbox()
            if volume_dirs is not None and self._run_init(volume_dirs):
                self._run_main(volume_dirs)
        except Exception:
            log.exception("pod worker for %s failed", self.key)
        finally:
            self._finish()

    def _sandbox(self) -> dict[str, str] | None:
        """Materialise volumes, retrying (FailedMount) until it works or the pod is deleted."""
        attempt = 0
        while not self.stop_requested():
            try:
                dirs = self.deps.volumes.materialise(self.context(), self.dir)
            except (VolumeSetupError, DagsterExtError, OSError) as err:
                self.event("FailedMount", f"MountVolume.SetUp failed: {err}", warning=True)
                self.pause(self.deps.retry_s[min(attempt, len(self.deps.retry_s) - 1)])
                attempt += 1
                continue
            with self.changing():
                self.record.sandbox_ready = True
            return dirs
        return None

    def _run_init(self, volume_dirs: dict[str, str]) -> bool:
        for spec, record in zip(podspec.init_containers(self.pod), self.record.init, strict=True):
            if not ContainerRun(self, spec, record, volume_dirs).run():
                return False
        return True

    def _run_main(self, volume_dirs: dict[str, str]) -> None:
        runs = [
            threading.Thread(
                target=ContainerRun(self, spec, record, volume_dirs).run,
                name=f"container-{self.key}-{record.name}",
                daemon=True,
            )
            for spec, record in zip(podspec.containers(self.pod), self.record.main, strict=True)
        ]
        for thread in runs:
            thread.start()
        for thread in runs:
            thread.join()

    def _finish(self) -> None:
        with self._lock:
            # on kubelet shutdown the status is left as is: a restarted kubelet reports these pods lost
            if self._deleting:
                self.record.mark_lost(timefmt.seconds())
            self._publish()
        self.finished.set()
        self.delete_if_requested()

    def delete_if_requested(self) -> None:
        """After the terminal status: delete with grace 0 and a uid precondition, once."""
        with self._flags:
            if not self._deleting or self._gone or self._deleted or not self.finished.is_set():
                return
            self._deleted = True
        try:
            self.deps.api.delete_pod(self.key.namespace, self.key.name, self.key.uid)
            log.info("deleted pod %s", self.key)
        except DagsterExtError as err:
            log.warning("deleting %s failed: %s", self.key, err)
            with self._flags:
                self._deleted = False
