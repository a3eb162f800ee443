"""The late ack waits for the event loop's turn after next (after the slots' job writes), and
queued acks are sent when the consumer stops."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery.worker import state

from dagster_ext.celery.worker import deferred_ack
from dagster_ext.celery.worker.deferred_ack import DeferredAckRequest, send_queued_acks


class FakeHub:
    """kombu's Hub as far as the requests use it: callbacks queued now run at the next turn."""

    def __init__(self) -> None:
        self.ready: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        self.ready.append((callback, args))

    def turn(self) -> None:
        todo, self.ready = self.ready, []
        for callback, args in todo:
            callback(*args)


def request(acks: list[str], name: str) -> DeferredAckRequest:
    """A request with only what `Request.acknowledge` touches (Celery builds the real ones)."""
    req = object.__new__(DeferredAckRequest)
    req.acknowledged = False
    req._on_ack = lambda _logger, _errors: acks.append(name)  # type: ignore[attr-defined]
    req._connection_errors = ()  # type: ignore[attr-defined]
    return req


class Waiting:
    """Stands for a request on its way to a slot."""


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    """An event loop with a request dispatched to a slot that has not taken it yet."""
    fake = FakeHub()
    deferred_ack._Loop.hub = fake
    waiting = Waiting()  # the sets hold weak references
    state.reserved_requests.add(waiting)
    yield fake
    state.reserved_requests.discard(waiting)
    deferred_ack._Loop.hub = None
    deferred_ack._queued.clear()


def test_the_ack_goes_out_on_the_turn_after_next(hub: FakeHub) -> None:
    acks: list[str] = []
    req = request(acks, "a")
    req.acknowledge()
    assert acks == [] and not req.acknowledged
    hub.turn()  # the next turn: the jobs are written at its end
    assert acks == []
    hub.turn()
    assert acks == ["a"] and req.acknowledged
    hub.turn()
    assert acks == ["a"]  # once


def test_queued_acks_are_sent_when_the_consumer_stops(hub: FakeHub) -> None:
    acks: list[str] = []
    first, second = request(acks, "a"), request(acks, "b")
    first.acknowledge()
    second.acknowledge()
    send_queued_acks()
    assert sorted(acks) == ["a", "b"]
    hub.turn()
    hub.turn()
    assert sorted(acks) == ["a", "b"]  # not sent twice


def test_without_an_event_loop_the_ack_goes_at_once() -> None:
    acks: list[str] = []
    req = request(acks, "a")
    req.acknowledge()
    assert acks == ["a"] and req.acknowledged


def test_with_no_job_on_its_way_the_ack_goes_at_once(hub: FakeHub) -> None:
    """Deferring then would only hold back the next message (kombu's prefetch count)."""
    state.reserved_requests.clear()
    acks: list[str] = []
    request(acks, "a").acknowledge()
    assert acks == ["a"]
