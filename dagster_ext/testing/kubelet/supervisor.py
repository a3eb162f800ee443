"""Keeps one `PodWorker` per pod bound to our node, and decides what to do with pods we find
without one: run them, delete them (terminal and deleted), or report them lost (a previous
kubelet started them and its processes are gone)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from dagster_ext.errors import DagsterExtError
from dagster_ext.testing.kubelet import podspec, timefmt
from dagster_ext.testing.kubelet.status import build_status, record_from_status
from dagster_ext.testing.kubelet.worker import STARTED_MARKER, PodWorker, WorkerDeps

JsonDict = dict[str, Any]
log = logging.getLogger(__name__)
LOST_REASON = "ProcessLost"
LOST_MESSAGE = "the dagster-ext kubelet restarted while this pod ran; its processes were stopped"


def was_started(pod: JsonDict, started_marker_exists: bool) -> bool:
    """A previous kubelet started this pod: a container ran, or our marker file says so.

    Such pods with restartPolicy Never are reported Failed; others are simply run again."""
    status = pod.get("status") or {}
    for cs in [*(status.get("initContainerStatuses") or ()), *(status.get("containerStatuses") or ())]:
        state = cs.get("state") or {}
        if state.get("running") or state.get("terminated") or cs.get("lastState", {}).get("terminated"):
            return True
    return started_marker_exists or status.get("phase") == "Running"


class Supervisor:
    def __init__(self, deps: WorkerDeps) -> None:
        self._deps = deps
        self._workers: dict[str, PodWorker] = {}
        self._handled: set[str] = set()  # uids needing no worker (terminal, lost, deleted)
        self._retired: list[PodWorker] = []  # removed from the API, maybe still stopping
        self._lock = threading.Lock()
        self._stopping = False

    def uids(self) -> set[str]:
        with self._lock:
            return set(self._workers) | self._handled

    def observe(self, pod: JsonDict) -> None:
        key = podspec.PodKey.of(pod)
        with self._lock:
            if self._stopping:
                return
            worker = self._workers.get(key.uid)
            handled = key.uid in self._handled
        if worker is not None:
            worker.observe(pod)
            worker.delete_if_requested()
        elif handled:
            self._delete_if_deleting(pod)
        else:
            self._adopt(pod)

    def removed(self, uid: str) -> None:
        with self._lock:
            worker = self._workers.pop(uid, None)
            self._handled.discard(uid)
            self._retired = [w for w in self._retired if not w.finished.is_set()]
            if worker is not None:
                self._retired.append(worker)
        if worker is not None:
            worker.removed()

    def shutdown(self, timeout_s: float) -> None:
        with self._lock:
            self._stopping = True
            workers = [*self._workers.values(), *self._retired]
        for worker in workers:
            worker.shutdown()
        for worker in workers:
            worker.join(timeout_s)

    def _adopt(self, pod: JsonDict) -> None:
        key = podspec.PodKey.of(pod)
        marker = (self._deps.pods_dir / key.dirname / STARTED_MARKER).exists()
        if podspec.is_terminal(pod):
            self._mark_handled(key.uid)
            self._delete_if_deleting(pod)
        elif was_started(pod, marker) and podspec.restart_policy(pod) == "Never":
            self._mark_handled(key.uid)
            self._report_lost(pod)
            self._delete_if_deleting(pod)
        elif podspec.is_deleting(pod):
            self._mark_handled(key.uid)
            self._delete_if_deleting(pod)
        else:
            worker = PodWorker(pod, self._deps)
            with self._lock:
                self._workers[key.uid] = worker
            log.info("starting pod %s", key)
            worker.start()

    def _mark_handled(self, uid: str) -> None:
        with self._lock:
            self._handled.add(uid)

    def _report_lost(self, pod: JsonDict) -> None:
        key = podspec.PodKey.of(pod)
        now = timefmt.seconds()
        record = record_from_status(pod, now)
        record.mark_lost(now)
        record.reason, record.message = LOST_REASON, LOST_MESSAGE
        record.terminal_phase = "Failed"
        log.warning("pod %s was started by a previous kubelet; reporting it Failed", key)
        try:
            self._deps.api.patch_pod_status(key.namespace, key.name, key.uid, build_status(record, now))
        except DagsterExtError as err:
            log.warning("could not report pod %s lost: %s", key, err)

    def _delete_if_deleting(self, pod: JsonDict) -> None:
        if podspec.is_deleting(pod):
            key = podspec.PodKey.of(pod)
            try:
                self._deps.api.delete_pod(key.namespace, key.name, key.uid)
                log.info("deleted pod %s", key)
            except DagsterExtError as err:
                log.warning("deleting %s failed: %s", key, err)
