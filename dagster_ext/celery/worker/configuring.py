"""`configure_worker`: what makes a Celery worker process a dagster-ext worker, in one place.

The hand-off tuning (`step_end_fetch`, `deferred_ack`, `tuning`) and the worker's registration in
the claim store (`registry`, which the run worker's lost-message rule depends on) are applied when
a worker of this app starts (Celery's `worker_init`), not when the app is built: so the same app
serves `dagster-ext celery worker`, a plain `celery -A dagster_ext.celery.worker.app worker`, and
processes that only publish or inspect, which must not fork pipes or register as workers.

The options are also added to Celery's own `worker` command (`--read-ahead`, `--fetch-at-step-end`
/ `--no-fetch-at-step-end`, `--slot-nice`), with the defaults given here, so both commands take the
same options and a worker started either way applies them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import click
from celery import Celery
from celery.signals import worker_init

from dagster_ext.celery.worker.deferred_ack import defer_acks
from dagster_ext.celery.worker.registry import WorkerRegistration
from dagster_ext.celery.worker.step_end_fetch import limit_consumption
from dagster_ext.celery.worker.tuning import lower_slot_priority


@dataclass(frozen=True)
class WorkerOptions:
    """`claims_url`: where the worker registers (the executor's claim store)."""

    claims_url: str
    read_ahead: int = 0
    fetch_at_step_end: bool = True
    slot_nice: int = 0


def options_from_worker(defaults: WorkerOptions, given: Mapping[str, Any]) -> WorkerOptions:
    """The options a started worker was given on its command line (Celery passes them to the
    worker as keyword arguments), each falling back to `defaults`."""

    def pick(key: str, default: Any) -> Any:
        value = given.get(key)
        return default if value is None else value

    return replace(
        defaults,
        read_ahead=int(pick("read_ahead", defaults.read_ahead)),
        fetch_at_step_end=bool(pick("fetch_at_step_end", defaults.fetch_at_step_end)),
        slot_nice=int(pick("slot_nice", defaults.slot_nice)),
    )


def worker_command_options(defaults: WorkerOptions) -> list[click.Option]:
    """The tuning options, for Celery's `worker` command (`app.user_options["worker"]`)."""
    return [
        click.Option(
            ["--read-ahead"], type=click.IntRange(min=0), default=defaults.read_ahead,
            help="dagster-ext: messages held beyond the slots, handed to a slot the moment it frees.",
        ),
        click.Option(
            ["--fetch-at-step-end/--no-fetch-at-step-end"], default=defaults.fetch_at_step_end,
            help="dagster-ext: fetch a slot's next message once its step wrote its last event (Redis).",
        ),
        click.Option(
            ["--slot-nice"], type=click.IntRange(0, 19), default=defaults.slot_nice,
            help="dagster-ext: niceness added to the slot processes.",
        ),
    ]  # fmt: skip


def apply_worker_options(app: Celery, options: WorkerOptions) -> None:
    """Worker side only, before the consumer and the pool start."""
    limit_consumption(app, read_ahead=options.read_ahead, fetch_at_step_end=options.fetch_at_step_end)
    defer_acks(app)
    lower_slot_priority(options.slot_nice)
    WorkerRegistration(claims_url=options.claims_url, read_ahead=options.read_ahead).connect(app)


def configure_worker(app: Celery, options: WorkerOptions) -> None:
    """Make every worker started from `app` a dagster-ext worker, with `options` as defaults."""
    app.user_options["worker"].update(worker_command_options(options))

    def _on_worker_init(sender: Any = None, **_: Any) -> None:
        if sender is None or getattr(sender, "app", None) is not app:
            return  # another app's worker in this process (tests)
        apply_worker_options(app, options_from_worker(options, getattr(sender, "options", None) or {}))

    worker_init.connect(_on_worker_init, weak=False)
