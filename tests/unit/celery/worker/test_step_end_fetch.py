"""How many messages a worker may hold: one per slot, plus read-ahead or slots whose step ended."""

from __future__ import annotations

import pytest

from dagster_ext.celery.worker.step_end_fetch import announce_step_end, room_for_messages


@pytest.mark.parametrize(
    ("held", "ended", "slots", "read_ahead", "room"),
    [
        ([], set(), 1, 0, True),  # an idle slot
        (["a"], set(), 1, 0, False),  # its step runs: nothing more (Celery's worker_disable_prefetch)
        (["a"], {"a"}, 1, 0, True),  # its step ended: fetch the next during the wind-down
        (["a", "b"], {"a"}, 1, 0, False),  # fetched: b waits for a's slot, nothing more
        (["a", "b", "c", "d"], {"a", "b"}, 4, 0, True),  # two of four wind down: two more
        (["a", "b", "c", "d", "e", "f"], {"a", "b"}, 4, 0, False),
        (["a", "b"], set(), 1, 1, False),  # read-ahead 1: the running step and one more
        (["a", "b"], {"a"}, 1, 1, False),  # a message read ahead already covers the wind-down
        (["a", "b", "c"], {"a", "b"}, 2, 1, True),  # two slots ending, read-ahead 1: the larger counts
    ],
)
def test_room(held: list[str], ended: set[str], slots: int, read_ahead: int, room: bool) -> None:
    assert room_for_messages(held=held, ended=ended, slots=slots, read_ahead=read_ahead)[0] is room


def test_an_announcement_is_dropped_once_its_message_is_done() -> None:
    """Else the slot's next step would count as ended from its start: a second place for one slot."""
    room, current = room_for_messages(held=["b"], ended={"a"}, slots=1, read_ahead=0)
    assert (room, current) == (False, set())


def test_announcing_outside_a_worker_slot_does_nothing() -> None:
    announce_step_end("task-1")  # no pipe in this process: returns without error
    announce_step_end(None)
