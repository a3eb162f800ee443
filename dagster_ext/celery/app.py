"""Celery app construction: one function for the run worker (publishing) and the Celery worker."""

from __future__ import annotations

from celery import Celery

from dagster_ext.celery.conf import celery_conf
from dagster_ext.celery.settings import QueueSettings


def make_celery_app(settings: QueueSettings, *, with_tasks: bool = True) -> Celery:
    """Both sides must build the app from the same settings: Redis priority lists and folder
    paths are computed here, and a mismatch means the worker never sees the messages.
    """
    app = Celery("dagster_ext", set_as_current=False, include=list(settings.include))
    app.conf.update(celery_conf(settings))
    if settings.embedded_dir is not None:
        from pathlib import Path

        for sub in ("queue", "control", "results"):
            (Path(settings.embedded_dir) / sub).mkdir(parents=True, exist_ok=True)
    if with_tasks:
        from dagster_ext.celery.tasks import register_tasks

        register_tasks(app)
    return app
