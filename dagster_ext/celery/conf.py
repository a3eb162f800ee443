"""The Celery settings we run with, as a pure function of `QueueSettings`.

Safety defaults, each for a reason:
- late ack + reject on worker lost: a step whose worker dies goes back to the queue;
- prefetch multiplier 1 and disabled prefetch: no slot hoards tasks, so the cap and priorities hold;
- a soft/hard time limit, and a broker visibility timeout longer than the hard limit, so Redis does
  not hand a still-running step to a second worker;
- Redis priorities with one list per level and `queue_order_strategy=priority`.
User `config_source` is applied on top, except that it may not break the visibility/time-limit rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dagster_ext.celery.priorities import (
    DEFAULT_STEP_PRIORITY,
    REDIS_PRIORITY_STEPS,
    BrokerKind,
    broker_priority,
)
from dagster_ext.celery.settings import DEFAULT_POLL_S, VISIBILITY_MARGIN_S, QueueSettings
from dagster_ext.errors import ConfigError

TASK_NAME = "dagster_ext.execute_step"
MAX_PRIORITY_ARG = 10  # RabbitMQ x-max-priority
HARD_LIMIT_GRACE_S = 30


def transport_options(settings: QueueSettings) -> dict[str, Any]:
    kind = settings.broker_kind
    options: dict[str, Any] = {}
    if settings.time_limit_s is not None:
        options["visibility_timeout"] = settings.time_limit_s + HARD_LIMIT_GRACE_S + VISIBILITY_MARGIN_S
    if kind is BrokerKind.REDIS:
        options["queue_order_strategy"] = "priority"
        options["priority_steps"] = list(REDIS_PRIORITY_STEPS)
    elif kind is BrokerKind.FILESYSTEM:
        options["polling_interval"] = DEFAULT_POLL_S
        if settings.embedded_dir is not None:  # else the user's config_source names the folders
            queue_dir = str(Path(settings.embedded_dir) / "queue")
            options["data_folder_in"] = queue_dir
            options["data_folder_out"] = queue_dir
            options["control_folder"] = str(Path(settings.embedded_dir) / "control")
    return options


def celery_conf(settings: QueueSettings) -> dict[str, Any]:
    default_priority = broker_priority(DEFAULT_STEP_PRIORITY, settings.broker_kind)
    conf: dict[str, Any] = {
        "broker_url": settings.broker_url,
        "result_backend": settings.backend_url,
        "task_default_queue": settings.default_queue,
        "task_create_missing_queues": True,
        "task_queue_max_priority": MAX_PRIORITY_ARG,
        "task_default_priority": default_priority,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_prefetch_multiplier": 1,
        "worker_disable_prefetch": True,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "broker_transport_options": transport_options(settings),
        "task_publish_retry": True,
        "task_publish_retry_policy": {
            "max_retries": 60,
            "interval_start": 0,
            "interval_step": 0.25,
            "interval_max": 1.0,
        },
    }
    if settings.time_limit_s is not None:
        conf["task_soft_time_limit"] = settings.time_limit_s
        conf["task_time_limit"] = settings.time_limit_s + HARD_LIMIT_GRACE_S
    _apply_user_conf(conf, dict(settings.config_source))
    return conf


def _apply_user_conf(conf: dict[str, Any], user: dict[str, Any]) -> None:
    options = dict(conf["broker_transport_options"])
    options.update(user.pop("broker_transport_options", None) or {})
    conf.update(user)
    conf["broker_transport_options"] = options
    limit = conf.get("task_time_limit")
    visibility = options.get("visibility_timeout")
    if limit is not None and visibility is not None and float(visibility) <= float(limit):
        raise ConfigError(
            f"broker visibility_timeout {visibility}s must be longer than the hard task time limit "
            f"{limit}s, or a running step is redelivered to a second worker: raise it or lower "
            "step_time_limit_seconds",
            path="execution.config.config_source.broker_transport_options.visibility_timeout",
        )
