from __future__ import annotations

from typing import Any

from dagster_ext.k8s.client.errors import K8sConflict
from dagster_ext.testing.kubelet.binding import Binder

JsonDict = dict[str, Any]


class Api:
    def __init__(self, bind_error: Exception | None = None) -> None:
        self.bound: list[str] = []
        self.patched: list[JsonDict] = []
        self.bind_error = bind_error

    def bind_pod(self, namespace: str, name: str, uid: str, node_name: str) -> None:
        if self.bind_error:
            raise self.bind_error
        self.bound.append(f"{namespace}/{name}->{node_name}")

    def patch_pod_status(self, namespace: str, name: str, uid: str, status: JsonDict) -> JsonDict:
        self.patched.append(status)
        return {}


class Events:
    def __init__(self) -> None:
        self.reasons: list[tuple[str, str]] = []

    def record(self, ref: Any, reason: str, message: str, **kwargs: Any) -> None:
        self.reasons.append((reason, kwargs.get("component", "kubelet")))


def pending(uid: str = "u", **spec: Any) -> JsonDict:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": uid},
        "spec": spec,
        "status": {"phase": "Pending"},
    }


def binder(api: Api, events: Events, labels: dict[str, str]) -> Binder:
    node = {"metadata": {"name": "n", "labels": labels}, "spec": {}, "status": {}}
    return Binder(api, events, node_name="n", node=lambda: node)  # type: ignore[arg-type]


def test_fitting_pod_is_bound_with_scheduled_event() -> None:
    api, events = Api(), Events()
    binder(api, events, {}).consider(pending())
    assert api.bound == ["ns/p->n"]
    assert events.reasons == [("Scheduled", "default-scheduler")]


def test_unfit_pod_is_marked_once_and_retried_when_labels_change() -> None:
    api, events = Api(), Events()
    labels: dict[str, str] = {}
    b = binder(api, events, labels)
    pod = pending(nodeSelector={"tier": "gpu"})
    b.consider(pod)
    condition = api.patched[0]["conditions"][0]
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "PodScheduled",
        "False",
        "Unschedulable",
    )
    assert events.reasons == [("FailedScheduling", "default-scheduler")]
    marked = {**pod, "status": {"phase": "Pending", "conditions": [condition]}}
    b.consider(marked)  # our own patch echoed by the watch: no second patch
    assert len(api.patched) == 1
    labels["tier"] = "gpu"
    b.retry_unschedulable()
    assert api.bound == ["ns/p->n"]


def test_conflict_on_bind_is_ignored() -> None:
    api, events = Api(bind_error=K8sConflict("already bound", status=409)), Events()
    binder(api, events, {}).consider(pending())
    assert events.reasons == []
