"""The Celery worker's app: the shared app plus the step task."""

from __future__ import annotations

from celery import Celery

from dagster_ext.celery.app import make_celery_app
from dagster_ext.celery.settings import QueueSettings
from dagster_ext.celery.worker.tasks import register_tasks


def make_worker_app(settings: QueueSettings) -> Celery:
    app = make_celery_app(settings)
    register_tasks(app)
    return app
