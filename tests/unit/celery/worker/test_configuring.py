"""`configure_worker`: the tuning is applied when a worker of the app starts, whichever command
started it, with the options given on that command line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from celery.signals import worker_init

from dagster_ext.celery.settings import settings_from_config
from dagster_ext.celery.worker import configuring
from dagster_ext.celery.worker.app import make_worker_app
from dagster_ext.celery.worker.configuring import WorkerOptions, options_from_worker


@dataclass(eq=False)
class StartedWorker:
    """What `worker_init` sends: the worker, its app and the keyword arguments it was given."""

    app: Celery
    options: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Celery, WorkerOptions]]:
    calls: list[tuple[Celery, WorkerOptions]] = []
    monkeypatch.setattr(configuring, "apply_worker_options", lambda *call: calls.append(call))
    return calls


def _app(tmp_path: Path, **options: Any) -> Celery:
    settings = settings_from_config({"embedded_dir": str(tmp_path)})
    return make_worker_app(settings, WorkerOptions(claims_url=settings.claims_url, **options))


def test_nothing_is_applied_before_a_worker_starts(tmp_path: Path, applied: list[Any]) -> None:
    app = _app(tmp_path)
    assert applied == []
    assert not any("ConsumptionLimit" in str(step) for step in app.steps["consumer"])


def test_a_worker_of_the_app_gets_the_options_of_its_command_line(tmp_path: Path, applied: list[Any]) -> None:
    app = _app(tmp_path, read_ahead=1)
    given = {"read_ahead": 2, "fetch_at_step_end": False, "slot_nice": None}
    worker_init.send(sender=StartedWorker(app, given))
    assert applied == [(app, WorkerOptions(claims_url=applied[0][1].claims_url, read_ahead=2,
                                           fetch_at_step_end=False, slot_nice=0))]  # fmt: skip


def test_another_apps_worker_is_left_alone(tmp_path: Path, applied: list[Any]) -> None:
    _app(tmp_path / "a")
    other = _app(tmp_path / "b")
    applied.clear()
    worker_init.send(sender=StartedWorker(Celery(set_as_current=False)))
    assert applied == []
    worker_init.send(sender=StartedWorker(other))
    assert [app for app, _ in applied] == [other]


def test_celerys_worker_command_takes_the_same_options_with_the_given_defaults(tmp_path: Path) -> None:
    app = _app(tmp_path, read_ahead=3, slot_nice=5)
    defaults = {option.name: option.default for option in app.user_options["worker"]}
    assert defaults == {"read_ahead": 3, "fetch_at_step_end": True, "slot_nice": 5}


def test_options_missing_from_the_command_line_keep_their_defaults() -> None:
    defaults = WorkerOptions(claims_url="sqlite:///x", read_ahead=1, fetch_at_step_end=False, slot_nice=2)
    assert options_from_worker(defaults, {}) == defaults
    assert options_from_worker(defaults, {"slot_nice": 0}).slot_nice == 0
