"""Routing: the queue and urgency of a step from dagster-celery's tags."""

from __future__ import annotations

import pytest

from dagster_ext.celery.run_worker.routing import (
    QUEUE_TAG,
    RUN_PRIORITY_TAG,
    STEP_PRIORITY_TAG,
    step_queue,
    step_urgency,
)
from dagster_ext.errors import ConfigError


def test_urgency_is_step_plus_run_priority_with_dagster_celery_defaults() -> None:
    assert step_urgency(step_tags={}, run_tags={}) == 5
    assert step_urgency(step_tags={STEP_PRIORITY_TAG: "2"}, run_tags={RUN_PRIORITY_TAG: "3"}) == 5
    assert step_urgency(step_tags={STEP_PRIORITY_TAG: "-1"}, run_tags={}) == -1


def test_bad_priority_names_the_tag() -> None:
    with pytest.raises(ConfigError, match=r"op 'x'.tags\['dagster-celery/priority'\]"):
        step_urgency(step_tags={STEP_PRIORITY_TAG: "high"}, run_tags={}, step_key="x")


def test_queue_tag_or_default() -> None:
    assert step_queue(step_tags={QUEUE_TAG: "b"}, default_queue="dagster") == "b"
    assert step_queue(step_tags={QUEUE_TAG: " "}, default_queue="dagster") == "dagster"
    assert step_queue(step_tags={}, default_queue="q") == "q"
