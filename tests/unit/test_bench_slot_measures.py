"""The Celery bench's slot measures: pure arithmetic over recorded task spans."""

from __future__ import annotations

import pytest

from bench.celery_measures import handoff_figures, saturated_utilisation, slot_gaps, slot_task_figures


def probe(*rows: tuple[int, float, float]) -> list[dict[str, float]]:
    return [{"pid": pid, "start": start, "end": end} for pid, start, end in rows]


def test_back_to_back_slots_are_fully_used_while_work_waits() -> None:
    # 2 slots: the root alone (0-1), then leaves back to back on both, and one last leaf (3-4).
    figures = slot_task_figures(
        probe((1, 0, 1), (1, 1, 2), (2, 1, 2), (1, 2, 3), (2, 2, 3), (1, 3, 4)), slots=2
    )
    assert figures["slot_utilisation"] == 1.0  # second start (1) -> last start (3)
    assert figures["slot_utilisation_all"] == 6 / 8  # the root's and the drain's idle slot count here
    assert figures["slot_gap_median_s"] == 0.0


def test_idle_gaps_between_tasks_lower_utilisation_and_are_measured_per_slot() -> None:
    spans = [(0.0, 1.0), (1.0, 1.8), (1.0, 1.8), (2.0, 2.8), (2.0, 2.8), (3.0, 3.8)]
    # Between 1.0 and 3.0, each slot was busy 0.8 + 0.8 of 2 s.
    assert saturated_utilisation(spans, slots=2) == pytest.approx(3.2 / 4.0)
    gaps = sorted(slot_gaps({1: [spans[0], spans[1], spans[3], spans[5]], 2: [spans[2], spans[4]]}))
    assert [round(g, 6) for g in gaps] == [0.0, 0.2, 0.2, 0.2]


def test_too_few_tasks_give_no_figure() -> None:
    assert saturated_utilisation([(0.0, 1.0), (1.0, 2.0)], slots=2) is None
    assert slot_task_figures([], slots=2) == {"slot_utilisation": None}


def test_hand_off_segments_follow_one_slot_from_a_result_to_its_next_task() -> None:
    lines = [
        {"pid": 7, "task_id": "a", "start": 0.0, "end": 1.0},
        {"pid": 1, "task_id": "a", "mark": "result", "t": 1.002},
        {"pid": 1, "task_id": "b", "mark": "dispatch", "t": 1.003},
        {"pid": 7, "task_id": "b", "mark": "got", "t": 1.008},
        {"pid": 7, "task_id": "b", "start": 1.0085, "end": 2.0},
        {"pid": 8, "task_id": "c", "start": 0.5, "end": 1.5},  # another slot's lone task: no pair
    ]
    figures = handoff_figures(lines)
    assert figures["handoff_result_s"] == pytest.approx(0.002)
    assert figures["handoff_dispatch_s"] == pytest.approx(0.001)
    assert figures["handoff_pipe_s"] == pytest.approx(0.005)
    assert figures["handoff_trace_s"] == pytest.approx(0.0005)
    # The marks do not disturb the span figures.
    assert slot_task_figures(lines, slots=2)["tasks"] == 3


def test_hand_off_without_marks_gives_none() -> None:
    lines = [
        {"pid": 7, "task_id": "a", "start": 0.0, "end": 1.0},
        {"pid": 7, "task_id": "b", "start": 1.1, "end": 2.0},
    ]
    assert set(handoff_figures(lines).values()) == {None}
