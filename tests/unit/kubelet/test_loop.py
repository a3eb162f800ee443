"""The pod loop against a failure-injecting source: 410 Gone re-lists, errors back off, and
events are routed to the binder or the supervisor."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from dagster_ext.k8s.client.errors import K8sGone, K8sUnavailable
from dagster_ext.testing.kubelet.loop import Dispatcher, PodLoop

JsonDict = dict[str, Any]


def pod(uid: str, node: str = "", rv: str = "1") -> JsonDict:
    return {
        "metadata": {"uid": uid, "name": uid, "namespace": "ns", "resourceVersion": rv},
        "spec": {"nodeName": node},
    }


class Source:
    """Scripted lists and watches: each watch item is either a list of events or an exception."""

    def __init__(self, lists: list[tuple[list[JsonDict], str]], watches: list[Any]) -> None:
        self.lists, self.watches = lists, watches
        self.watched_from: list[str] = []

    def list_pods(self) -> tuple[list[JsonDict], str]:
        return self.lists.pop(0)

    def watch_pods(self, resource_version: str, **_: Any) -> Iterator[tuple[str, JsonDict]]:
        self.watched_from.append(resource_version)
        item = self.watches.pop(0)
        if isinstance(item, Exception):
            raise item
        yield from item


class Sink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def sync(self, pods: list[JsonDict]) -> None:
        self.calls.append(("sync", [p["metadata"]["uid"] for p in pods]))

    def pod_changed(self, pod: JsonDict) -> None:
        self.calls.append(("changed", pod["metadata"]["uid"]))

    def pod_deleted(self, pod: JsonDict) -> None:
        self.calls.append(("deleted", pod["metadata"]["uid"]))


def test_watch_continues_from_last_version_and_relists_on_gone() -> None:
    source = Source(
        lists=[([pod("a")], "10"), ([pod("a"), pod("b")], "30")],
        watches=[
            [("ADDED", pod("b", rv="11")), ("BOOKMARK", {"metadata": {"resourceVersion": "15"}})],
            K8sGone("too old", status=410),
            [("DELETED", pod("a", rv="31"))],
        ],
    )
    sink, sleeps = Sink(), []
    PodLoop(source, sink, sleep=sleeps.append).run(threading.Event(), max_passes=3)
    assert source.watched_from == ["10", "15", "30"]
    assert sink.calls == [
        ("sync", ["a"]),
        ("changed", "b"),
        ("sync", ["a", "b"]),
        ("deleted", "a"),
    ]
    assert sleeps == []  # 410 is not a failure


def test_errors_back_off_then_relist() -> None:
    source = Source(
        lists=[([], "1"), ([], "2"), ([], "3")],
        watches=[K8sUnavailable("refused"), K8sUnavailable("refused"), []],
    )
    sleeps: list[float] = []
    PodLoop(source, Sink(), sleep=sleeps.append).run(threading.Event(), max_passes=3)
    assert sleeps == [0.2, 0.5]
    assert source.watched_from == ["1", "2", "3"]


class Binder:
    def __init__(self) -> None:
        self.considered: list[str] = []
        self.forgotten: list[str] = []

    def consider(self, pod: JsonDict) -> None:
        self.considered.append(pod["metadata"]["uid"])

    def forget(self, uid: str) -> None:
        self.forgotten.append(uid)


class Supervisor:
    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.observed: list[str] = []
        self.removed_uids: list[str] = []

    def uids(self) -> set[str]:
        return set(self.known)

    def observe(self, pod: JsonDict) -> None:
        self.observed.append(pod["metadata"]["uid"])

    def removed(self, uid: str) -> None:
        self.removed_uids.append(uid)


def test_dispatcher_routes_by_node_and_reconciles_on_sync() -> None:
    binder, supervisor = Binder(), Supervisor(known={"gone", "mine"})
    dispatcher = Dispatcher(node_name="me", binder=binder, supervisor=supervisor)
    dispatcher.sync([pod("new"), pod("mine", node="me"), pod("theirs", node="other")])
    assert binder.considered == ["new"]
    assert supervisor.observed == ["mine"]
    assert supervisor.removed_uids == ["gone"]
    dispatcher.pod_deleted(pod("mine", node="me"))
    assert supervisor.removed_uids == ["gone", "mine"]
