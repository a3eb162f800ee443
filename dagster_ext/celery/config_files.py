"""The executor config a worker reads from a run config file: the same file the job runs with
(under `execution.config`, `execution.<name>.config`), or the config mapping itself."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import yaml

from dagster_ext.errors import ConfigError


def executor_config_from_file(
    config_yaml: str | None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """`{}` without a file: the embedded queue under $DAGSTER_HOME. Top-level `{env: NAME}`
    values are read from `environ` (default: this process's)."""
    if not config_yaml:
        return {}
    return resolved_env_sources(_read(config_yaml), os.environ if environ is None else environ)


def resolved_env_sources(config: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Top-level `{env: NAME}` values read from the environment, as Dagster resolves the same
    StringSource keys (broker, backend, claims_url) for the run worker: a worker deployed next to
    the jobs reads the broker URL from the same Secret-backed variable."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        out[key] = value
        if isinstance(value, Mapping) and set(value) == {"env"} and isinstance(value["env"], str):
            if value["env"] not in environ:
                raise ConfigError(
                    f"environment variable {value['env']} is not set", path=f"execution.config.{key}"
                )
            out[key] = environ[value["env"]]
    return out


def _read(config_yaml: str) -> dict[str, Any]:
    with open(config_yaml, encoding="utf8") as f:
        parsed = yaml.safe_load(f) or {}
    if not isinstance(parsed, Mapping):
        raise ConfigError("must be a mapping", path=config_yaml)
    execution = parsed.get("execution")
    if isinstance(execution, Mapping):
        inner: Any = execution.get("config") or next(iter(execution.values()), {})
        if isinstance(inner, Mapping) and "config" in inner and len(inner) == 1:
            inner = inner["config"]  # execution: {celery_queue: {config: ...}}
        return dict(inner or {})
    return dict(parsed)
