"""The Celery worker's app: the shared app, the step task and `configure_worker`.

Also the app module for Celery's own command: `celery -A dagster_ext.celery.worker.app worker`
reads the executor config from the run config file named by $DAGSTER_EXT_CELERY_CONFIG (the file
`dagster-ext celery worker -y` takes; unset: the embedded queue under $DAGSTER_HOME) and starts the
same worker as `dagster-ext celery worker`. The app is built when Celery first asks for it
(`app`), not on import.
"""

from __future__ import annotations

import os
import threading

from celery import Celery

from dagster_ext.celery.app import make_celery_app
from dagster_ext.celery.config_files import executor_config_from_file
from dagster_ext.celery.settings import QueueSettings, settings_from_config
from dagster_ext.celery.worker.configuring import WorkerOptions, configure_worker
from dagster_ext.celery.worker.tasks import register_tasks

CONFIG_ENV = "DAGSTER_EXT_CELERY_CONFIG"


def make_worker_app(settings: QueueSettings, options: WorkerOptions | None = None) -> Celery:
    """`options`: the tuning defaults (the worker's command line may override each)."""
    app = make_celery_app(settings)
    register_tasks(app)
    configure_worker(app, options or WorkerOptions(claims_url=settings.claims_url))
    return app


_made: dict[str, Celery] = {}
_made_lock = threading.Lock()


def __getattr__(name: str) -> Celery:
    """`app`, for `celery -A`: built once, from $DAGSTER_EXT_CELERY_CONFIG."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _made_lock:
        if "app" not in _made:
            config = executor_config_from_file(os.environ.get(CONFIG_ENV))
            _made["app"] = make_worker_app(settings_from_config(config))
        return _made["app"]
