"""Celery app construction, the same for the run worker (publishing) and the Celery worker (which
adds its task and tuning on top: `worker.app`)."""

from __future__ import annotations

from pathlib import Path

from celery import Celery

from dagster_ext.celery.conf import celery_conf
from dagster_ext.celery.settings import QueueSettings


def make_celery_app(settings: QueueSettings) -> Celery:
    """Both sides must build the app from the same settings: Redis priority lists and folder
    paths are computed here, and a mismatch means the worker never sees the messages.
    """
    app = Celery("dagster_ext", set_as_current=False, include=list(settings.include))
    app.conf.update(celery_conf(settings))
    if settings.embedded_dir is not None:
        for sub in ("queue", "control", "results"):
            (Path(settings.embedded_dir) / sub).mkdir(parents=True, exist_ok=True)
    return app
