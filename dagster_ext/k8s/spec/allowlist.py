"""The run launcher's allowlists for user-defined config (dagster-k8s keys
`only_allow_user_defined_k8s_config_fields` and `only_allow_user_defined_env_vars`).

An operator uses them to stop user code from setting arbitrary pod fields. dagster-k8s checks
the code location and run tags; we also check op/asset tags, which are user code too.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from dagster_ext.k8s.spec.config import JOB_SECTIONS, K8sConfig
from dagster_ext.k8s.spec.layers import CODE_LOCATION, OP_TAGS, RUN_TAGS, Layer
from dagster_ext.k8s.spec.schema import Problems, child_path, resolve_field

USER_LAYERS: Final = frozenset({CODE_LOCATION, RUN_TAGS, OP_TAGS})
FIELDS_KEY: Final = "run_launcher.config.only_allow_user_defined_k8s_config_fields"


def enforce_allowlist(
    layers: Sequence[Layer],
    *,
    allowed_fields: Mapping[str, Any] | None,
    allowed_env_vars: Collection[str] | None,
    user_layers: Collection[str] = USER_LAYERS,
) -> tuple[list[Layer], list[str]]:
    """Check user layers against the allowlists.

    Raises `ConfigError` naming every field a user layer sets that `allowed_fields` does not
    allow; returns the layers with env vars outside `allowed_env_vars` removed, and the removed
    names (dagster-k8s drops them with a warning, so do we: the caller logs them).
    """
    if allowed_fields is not None:
        _check_fields(layers, _camel_allowlist(allowed_fields), user_layers)
    if allowed_env_vars is None:
        return list(layers), []
    removed: list[str] = []
    kept = [
        _filter_env(layer, set(allowed_env_vars), removed) if layer.name in user_layers else layer
        for layer in layers
    ]
    return kept, removed


def _camel_allowlist(allowed: Mapping[str, Any]) -> dict[str, Any]:
    """Allowlist keys may be snake_case or camelCase, like the config they allow."""
    result: dict[str, Any] = {}
    for section, fields in allowed.items():
        if section in JOB_SECTIONS and isinstance(fields, Mapping):
            model = JOB_SECTIONS[section]
            result[section] = {_camel(model, key): bool(flag) for key, flag in fields.items()}
        else:
            result[section] = fields
    return result


def _camel(model: str, key: str) -> str:
    resolved = resolve_field(model, key)
    return resolved[1] if resolved else key


def _check_fields(layers: Sequence[Layer], allowed: Mapping[str, Any], user_layers: Collection[str]) -> None:
    problems = Problems()
    for layer in layers:
        if layer.name not in user_layers:
            continue
        for section, values in layer.config.sections().items():
            for key in values:
                if not (allowed.get(section) or {}).get(key):
                    problems.add(child_path(f"{layer.name}.{section}", key), f"not allowed by {FIELDS_KEY}")
        if layer.namespace and not allowed.get("namespace"):
            problems.add(f"{layer.name}.namespace", f"not allowed by {FIELDS_KEY}")
    problems.raise_if_any()


def _filter_env(layer: Layer, allowed: set[str], removed: list[str]) -> Layer:
    env = layer.config.container_config.get("env")
    if not env:
        return layer
    kept = [item for item in env if item.get("name") in allowed]
    removed.extend(item.get("name") for item in env if item.get("name") not in allowed)
    container = {**layer.config.container_config, "env": kept}
    config: K8sConfig = replace(layer.config, container_config=container)
    return replace(layer, config=config)
