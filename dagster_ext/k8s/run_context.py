"""What a Dagster run contributes to pod configuration, read from Dagster objects.

Shared by the run launcher, the step executor, the Celery K8s-Job mode and `execute_k8s_job`, so
the layers of a run pod are computed the same way everywhere (the step pod's inheritance depends
on it). Reads Dagster objects only; no Kubernetes I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from dagster_ext.dagster_compat.runs import DagsterRun
from dagster_ext.k8s.config_schema import launcher_config_schema

log = logging.getLogger(__name__)


def code_location_context(run: DagsterRun) -> tuple[Mapping[str, Any] | None, str | None]:
    """(container context, image) of the code location the run came from."""
    origin = run.job_code_origin
    if origin is None:
        return None, None
    repository = origin.repository_origin
    return repository.container_context, repository.container_image


def code_location_name(run: DagsterRun) -> str | None:
    remote = run.remote_job_origin
    if remote is None:
        return None
    return str(remote.repository_origin.code_location_origin.location_name)


def launcher_config_of(run_launcher: Any) -> Mapping[str, Any] | None:
    """The K8s launcher config of the instance's run launcher: ours, dagster-k8s's, or none.

    The step executor works with any launcher; with a non-K8s launcher there is no launcher layer.
    """
    config = getattr(run_launcher, "config", None)
    if isinstance(config, Mapping) and "job_namespace" in config:
        return config
    if type(run_launcher).__module__.startswith("dagster_k8s"):
        keys = [k for k in launcher_config_schema() if hasattr(run_launcher, k)]
        values = {k: getattr(run_launcher, k) for k in keys}
        values["job_namespace"] = getattr(run_launcher, "job_namespace", None)
        return {k: v for k, v in values.items() if v is not None}
    return None


def apply_launcher_allowlists(layers: list[Any], launcher_config: Mapping[str, Any] | None) -> list[Any]:
    """Enforce `only_allow_user_defined_k8s_config_fields` / `..._env_vars` on the user layers.

    A disallowed field is a ConfigError before any K8s Job exists; disallowed env vars are dropped
    with a warning, as dagster-k8s does.
    """
    from dagster_ext.k8s.spec import enforce_allowlist

    config = launcher_config or {}
    kept, removed = enforce_allowlist(
        layers,
        allowed_fields=config.get("only_allow_user_defined_k8s_config_fields"),
        allowed_env_vars=config.get("only_allow_user_defined_env_vars"),
    )
    if removed:
        log.warning(
            "dropped env vars not in only_allow_user_defined_env_vars: %s", ", ".join(sorted(removed))
        )
    return kept
