"""The executor config a worker reads from a run config file: the same file the job runs with
(under `execution.config`, `execution.<name>.config`), or the config mapping itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from dagster_ext.errors import ConfigError


def executor_config_from_file(config_yaml: str | None) -> dict[str, Any]:
    """`{}` without a file: the embedded queue under $DAGSTER_HOME."""
    if not config_yaml:
        return {}
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
