"""Fakes for kubelet tests: an API that records status patches, deletes and Events, object
sources, and a harness running pod workers against them."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dagster_ext.testing.kubelet import memory, runtime
from dagster_ext.testing.kubelet.events import EventRecorder
from dagster_ext.testing.kubelet.logserver import LogIndex
from dagster_ext.testing.kubelet.volumes import VolumeBuilder
from dagster_ext.testing.kubelet.worker import PodWorker, WorkerDeps

JsonDict = dict[str, Any]
MARK = "DAGSTER_EXT_KUBELET_TEST_MARK"


class FakeApi:
    def __init__(self) -> None:
        self.statuses: list[JsonDict] = []
        self.deleted: list[tuple[str, str, str]] = []
        self.events: list[JsonDict] = []
        self.config_maps: dict[str, dict[str, bytes]] = {}
        self.secrets: dict[str, dict[str, bytes]] = {}
        self.tokens: list[tuple[str, JsonDict]] = []
        self.lock = threading.Lock()

    # PodApi
    def patch_pod_status(self, namespace: str, name: str, uid: str, status: JsonDict) -> JsonDict:
        with self.lock:
            self.statuses.append(status)
        return {}

    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        self.deleted.append((namespace, name, uid))

    # EventSink
    def create_event(self, namespace: str, body: JsonDict) -> None:
        with self.lock:
            self.events.append(body)

    def patch_event(self, namespace: str, name: str, patch: JsonDict) -> None:
        pass

    # ObjectLookup / VolumeSources
    def config_map(self, namespace: str, name: str) -> dict[str, bytes] | None:
        return self.config_maps.get(name)

    def secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        return self.secrets.get(name)

    def token(self, namespace: str, service_account: str, *, spec: JsonDict) -> str:
        self.tokens.append((service_account, spec))
        return "token-of-" + service_account

    def root_ca(self) -> bytes | None:
        return b"CA"

    # helpers for assertions
    @property
    def last(self) -> JsonDict:
        with self.lock:
            return self.statuses[-1]

    def reasons(self) -> list[str]:
        with self.lock:
            return [e["reason"] for e in self.events]

    def wait_for(self, predicate: Callable[[JsonDict], bool], timeout_s: float = 20.0) -> JsonDict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                for status in reversed(self.statuses):
                    if predicate(status):
                        return status
            time.sleep(0.02)
        raise AssertionError(f"no status matched; last: {self.statuses[-1] if self.statuses else None}")


def container_state(status: JsonDict, index: int = 0, *, init: bool = False) -> JsonDict:
    key = "initContainerStatuses" if init else "containerStatuses"
    return dict(status[key][index]["state"])


def make_pod(*containers: JsonDict, init: tuple[JsonDict, ...] = (), **spec: Any) -> JsonDict:
    return {
        "metadata": {"name": "p-" + uuid.uuid4().hex[:6], "namespace": "ns", "uid": str(uuid.uuid4())},
        "spec": {
            "restartPolicy": "Never",
            "nodeName": "node",
            "containers": list(containers),
            "initContainers": list(init),
            **spec,
        },
    }


def py(code: str, name: str = "main", **extra: Any) -> JsonDict:
    return {"name": name, "image": "python:3.11", "command": ["python", "-c", code], **extra}


def marked_processes(mark: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as handle:
                    if f"{MARK}={mark}".encode() in handle.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


class Harness:
    def __init__(self, tmp_path: Path, mark: str, control: memory.MemoryControl) -> None:
        self.api = FakeApi()
        self.events = EventRecorder(self.api, node_name="node")
        self.events.start()
        self.control = control
        self.deps = WorkerDeps(
            api=self.api,
            events=self.events,
            volumes=VolumeBuilder(self.api),
            lookup=self.api,
            memory=control,
            logs=LogIndex(tmp_path / "pods"),
            pods_dir=tmp_path / "pods",
            node_name="node",
            base_env={"PATH": os.environ["PATH"], MARK: mark},
            service_env={"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443"},
            working_dir=str(tmp_path),
            use_mount_namespace=runtime.mount_namespaces_available(),
            unpullable=lambda image: image.startswith("unpullable"),
            retry_s=(0.2,),
            image_backoff_s=(0.5,),
            pull_failure_s=0.2,
        )
        self.workers: list[PodWorker] = []

    def run(self, pod: JsonDict) -> PodWorker:
        worker = PodWorker(pod, self.deps)
        self.workers.append(worker)
        worker.start()
        return worker

    def log_of(self, worker: PodWorker, container: str = "main", restart: int = 0) -> str:
        path = self.deps.logs.log_path(worker.key, container, restart)
        return b"".join(
            line.split(b" ", 3)[3] for line in path.read_bytes().splitlines(keepends=True)
        ).decode()

    def wait_for_log(self, worker: PodWorker, text: str, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if text in self.log_of(worker):
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError(f"{text!r} never appeared in the log")

    def close(self) -> None:
        for worker in self.workers:
            worker.shutdown()
        for worker in self.workers:
            worker.join(10)
        self.events.stop()
