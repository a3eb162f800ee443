"""`QueueSettings`: the executor's (and the worker's) resolved configuration, as plain data.

Pure: built from the executor config mapping and the environment, no Celery, no I/O. The embedded
default (no `broker`) is a kombu filesystem queue and a SQLite claim store under one directory,
`$DAGSTER_HOME/dagster_ext_celery` unless `embedded_dir` says otherwise.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster_ext.celery.priorities import BrokerKind, broker_kind
from dagster_ext.errors import ConfigError

DEFAULT_QUEUE = "dagster"
EMBEDDED_DIR_NAME = "dagster_ext_celery"
DEFAULT_LEASE_S = 15.0
DEFAULT_TIME_LIMIT_S = 6 * 3600
# Redis redelivers an unacked message only after this long; it must outlast the longest step.
VISIBILITY_MARGIN_S = 600
DEFAULT_POLL_S = 0.05
# The run worker's event-log tail: on average half of it is added to every hand-off from a step to the
# next (see docs/benchmarks.md). Each tick is one indexed query on the run worker's pooled connection,
# 20 per second per run with steps in flight; raise it when many runs share one PostgreSQL.
DEFAULT_EVENT_POLL_S = 0.05


class StepMode(enum.Enum):
    IN_WORKER = "in_worker"
    K8S_JOB = "k8s_job"


@dataclass(frozen=True)
class QueueSettings:
    broker_url: str
    backend_url: str | None
    claims_url: str
    default_queue: str = DEFAULT_QUEUE
    step_mode: StepMode = StepMode.IN_WORKER
    include: tuple[str, ...] = ()
    config_source: Mapping[str, Any] = field(default_factory=dict)
    embedded_dir: str | None = None
    lease_s: float = DEFAULT_LEASE_S
    time_limit_s: int | None = DEFAULT_TIME_LIMIT_S
    event_poll_s: float = DEFAULT_EVENT_POLL_S
    max_redispatches: int = 3

    @property
    def broker_kind(self) -> BrokerKind:
        return broker_kind(self.broker_url)

    @property
    def embedded(self) -> bool:
        return self.embedded_dir is not None


def embedded_dir_for(config: Mapping[str, Any], environ: Mapping[str, str]) -> Path:
    explicit = config.get("embedded_dir")
    if explicit:
        return Path(str(explicit))
    home = environ.get("DAGSTER_HOME")
    if not home:
        raise ConfigError(
            "no broker is configured and DAGSTER_HOME is not set: set `broker` (e.g. redis://host:6379/0), "
            "or `embedded_dir`, or DAGSTER_HOME so the embedded filesystem queue has a home",
            path="execution.config.broker",
        )
    return Path(home) / EMBEDDED_DIR_NAME


def _claims_url(config: Mapping[str, Any], broker: str, backend: str | None, embedded: Path | None) -> str:
    explicit = config.get("claims_url")
    if explicit:
        return str(explicit)
    if embedded is not None:
        return f"sqlite:///{embedded / 'claims.sqlite'}"
    for url in (backend, broker):
        if url and broker_kind(url) is BrokerKind.REDIS and not url.startswith("sentinel"):
            return url
    raise ConfigError(
        "step claims need Redis or a shared SQLite file: set `claims_url` (redis://... or sqlite:///path), "
        "or use a redis:// broker or backend",
        path="execution.config.claims_url",
    )


def _positive(config: Mapping[str, Any], key: str, default: float) -> float:
    value = config.get(key)
    if value is None:
        return default
    if float(value) <= 0:
        raise ConfigError(f"must be > 0, got {value!r}", path=f"execution.config.{key}")
    return float(value)


def settings_from_config(
    config: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> QueueSettings:
    """Resolve defaults; raise ConfigError naming the key when something cannot work."""
    env = os.environ if environ is None else environ
    broker = config.get("broker")
    backend = config.get("backend")
    embedded = None if broker else embedded_dir_for(config, env)
    if embedded is not None:
        broker = "filesystem://"
        backend = backend or f"file://{embedded / 'results'}"
    assert broker is not None
    time_limit = config.get("step_time_limit_seconds", DEFAULT_TIME_LIMIT_S)
    lease = _positive(config, "claim_lease_seconds", DEFAULT_LEASE_S)
    if time_limit is not None and int(time_limit) <= 0:
        raise ConfigError(
            f"must be > 0 or null, got {time_limit!r}", path="execution.config.step_time_limit_seconds"
        )
    return QueueSettings(
        broker_url=str(broker),
        backend_url=str(backend) if backend else None,
        claims_url=_claims_url(config, str(broker), str(backend) if backend else None, embedded),
        default_queue=str(config.get("default_queue") or DEFAULT_QUEUE),
        step_mode=StepMode(config.get("step_mode") or StepMode.IN_WORKER.value),
        include=tuple(config.get("include") or ()),
        config_source=dict(config.get("config_source") or {}),
        embedded_dir=str(embedded) if embedded is not None else None,
        lease_s=lease,
        time_limit_s=int(time_limit) if time_limit is not None else None,
        event_poll_s=_positive(config, "event_poll_seconds", DEFAULT_EVENT_POLL_S),
        max_redispatches=int(config.get("max_lost_redispatches", 3)),
    )
