"""Container-context style keys (launcher config, code-location container context, executor
config) turned into one validated `K8sConfig` per source.

These keys are shorthands for raw config: `resources` is `container_config.resources`,
`env_secrets` an `envFrom` secretRef, `labels` both metadata sections, and so on, exactly as
dagster-k8s's `K8sContainerContext` reads them. The raw `run_k8s_config` / `step_k8s_config`
of the same source is merged on top with its own `merge_behavior`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from dagster_ext.k8s.spec.bounds import check_bounds
from dagster_ext.k8s.spec.checks import describe
from dagster_ext.k8s.spec.config import JOB_SECTIONS, SERVER_SECTIONS, K8sConfig, parse_sections
from dagster_ext.k8s.spec.env_vars import (
    env_from,
    env_var_name,
    env_vars,
    launcher_env,
    optional_str,
    str_list,
    upper_wins,
)
from dagster_ext.k8s.spec.merging import merge_configs
from dagster_ext.k8s.spec.names import is_dns1123_label
from dagster_ext.k8s.spec.schema import Problems, child_path, normalise_field, suggest

# the launcher schema's default, applied because callers may pass a raw dagster.yaml section
DEFAULT_NAMESPACE: Final = "default"

# shorthand key -> (section, model, field) it stands for
_FIELD_KEYS: Final[Mapping[str, tuple[str, str, str]]] = {
    "image_pull_policy": ("container_config", "V1Container", "image_pull_policy"),
    "volume_mounts": ("container_config", "V1Container", "volume_mounts"),
    "resources": ("container_config", "V1Container", "resources"),
    "security_context": ("container_config", "V1Container", "security_context"),
    "env": ("container_config", "V1Container", "env"),
    "image_pull_secrets": ("pod_spec_config", "V1PodSpec", "image_pull_secrets"),
    "service_account_name": ("pod_spec_config", "V1PodSpec", "service_account_name"),
    "volumes": ("pod_spec_config", "V1PodSpec", "volumes"),
    "scheduler_name": ("pod_spec_config", "V1PodSpec", "scheduler_name"),
    "labels": ("job_metadata", "V1ObjectMeta", "labels"),
}
_NAME_LIST_KEYS: Final = ("env_config_maps", "env_secrets", "env_vars")
CONTAINER_CONTEXT_KEYS: Final = frozenset(
    {
        *_FIELD_KEYS,
        *_NAME_LIST_KEYS,
        "namespace",
        "run_k8s_config",
        "server_k8s_config",
        "server_replica_count",
    }
)


@dataclass(frozen=True)
class SourceConfig:
    """What one source (launcher, code location, executor) contributes to a pod."""

    k8s_config: K8sConfig = field(default_factory=K8sConfig)
    namespace: str | None = None
    image: str | None = None
    server_k8s_config: Mapping[str, Any] = field(default_factory=dict)


def parse_container_context(
    value: Mapping[str, Any] | str | None,
    *,
    environ: Mapping[str, str] | None = None,
    path: str = "container_context",
) -> SourceConfig:
    """A code location's whole container context (`DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT`):
    its `k8s` key plus the platform-independent top-level `env_vars`; other platforms ignored.
    """
    problems = Problems()
    if isinstance(value, str) and not value.strip():
        return SourceConfig()  # an empty env var means no container context
    check_bounds(value, path=path)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            problems.add(path, f"not valid JSON ({err.msg})")
            problems.raise_if_any()
    if not value:
        return SourceConfig()
    if not isinstance(value, Mapping):
        problems.add(path, f"expected a mapping, got {describe(value)}")
        problems.raise_if_any()
    assert isinstance(value, Mapping)
    k8s: dict[str, Any] = dict(value.get("k8s") or {})
    shared_env_vars = _shared_env_vars(value.get("env_vars"), k8s.get("env_vars"), path=path)
    if shared_env_vars:
        k8s["env_vars"] = [*shared_env_vars, *(k8s.get("env_vars") or [])]
    return parse_k8s_container_context(k8s, environ=environ, path=child_path(path, "k8s"))


def _shared_env_vars(shared: object, own: object, *, path: str) -> list[object]:
    """The platform-independent `env_vars`, minus the names `k8s.env_vars` sets again (the
    more specific key wins); a name repeated within the list itself is an error."""
    problems = Problems()
    items = str_list(shared, path=child_path(path, "env_vars"), problems=problems)
    first: dict[str | None, int] = {}
    for index, item in enumerate(items):
        name = env_var_name(item)
        if name and name in first:
            problems.add(
                f"{child_path(path, 'env_vars')}[{index}]",
                f"same name as item [{first[name]}]; each name may appear once",
            )
        first.setdefault(name, index)
    problems.raise_if_any()
    overridden = {env_var_name(item) for item in (own if isinstance(own, list) else [])}
    return [item for item in items if env_var_name(item) not in overridden]


def parse_k8s_container_context(
    value: Mapping[str, Any], *, environ: Mapping[str, str] | None = None, path: str = "container_context.k8s"
) -> SourceConfig:
    """The `k8s` part of a container context; unknown keys are errors, as in dagster-k8s."""
    check_bounds(value, path=path)
    problems = Problems()
    for key in value:
        if key not in CONTAINER_CONTEXT_KEYS:
            match = suggest(str(key), sorted(CONTAINER_CONTEXT_KEYS))
            problems.add(
                child_path(path, str(key)),
                f"unknown key; did you mean {match!r}?" if match else "unknown key",
            )
    result = _parse_source(value, raw_key="run_k8s_config", environ=environ, path=path, problems=problems)
    server, _ = parse_sections(
        value.get("server_k8s_config"),
        path=child_path(path, "server_k8s_config"),
        problems=problems,
        allowed=SERVER_SECTIONS,
    )
    namespace = _namespace(value.get("namespace"), path=child_path(path, "namespace"), problems=problems)
    problems.raise_if_any()
    return SourceConfig(k8s_config=result, namespace=namespace, server_k8s_config=server)


def parse_launcher_config(
    value: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    path: str = "run_launcher.config",
    dagster_env: bool = True,
) -> SourceConfig:
    """A run launcher's config (dagster_k8s.K8sRunLauncher or ours, a superset).

    Keys outside the container-context set are the launcher's own and are left to Dagster's
    config schema. With `dagster_env`, `dagster_home` (default as in the launcher schema) and
    `postgres_password_secret` become env vars, as dagster-k8s does for run and step pods.
    """
    check_bounds(value, path=path)
    problems = Problems()
    system_env = launcher_env(value, path=path, problems=problems) if dagster_env else []
    result = _parse_source(
        value, raw_key="run_k8s_config", environ=environ, path=path, problems=problems, leading_env=system_env
    )
    namespace = _namespace(
        value.get("job_namespace", DEFAULT_NAMESPACE),
        path=child_path(path, "job_namespace"),
        problems=problems,
    )
    image = optional_str(value.get("job_image"), path=child_path(path, "job_image"), problems=problems)
    problems.raise_if_any()
    return SourceConfig(k8s_config=result, namespace=namespace, image=image)


def parse_executor_config(
    value: Mapping[str, Any], *, environ: Mapping[str, str] | None = None, path: str = "execution.config"
) -> tuple[SourceConfig, dict[str, K8sConfig]]:
    """A K8s step executor's config: (its step layer, `per_step_k8s_config` by op name)."""
    check_bounds(value, path=path)
    problems = Problems()
    result = _parse_source(value, raw_key="step_k8s_config", environ=environ, path=path, problems=problems)
    namespace = _namespace(
        value.get("job_namespace"), path=child_path(path, "job_namespace"), problems=problems
    )
    image = optional_str(value.get("job_image"), path=child_path(path, "job_image"), problems=problems)
    per_step = _per_step(
        value.get("per_step_k8s_config"), path=child_path(path, "per_step_k8s_config"), problems=problems
    )
    problems.raise_if_any()
    return SourceConfig(k8s_config=result, namespace=namespace, image=image), per_step


def _per_step(value: object, *, path: str, problems: Problems) -> dict[str, K8sConfig]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.add(path, f"expected a mapping of op name to dagster-k8s/config, got {describe(value)}")
        return {}
    result = {}
    for op_name, raw in value.items():
        sections, behavior = parse_sections(
            raw, path=child_path(path, str(op_name)), problems=problems, allowed=JOB_SECTIONS
        )
        result[str(op_name)] = K8sConfig.from_sections(sections, behavior)
    return result


def _parse_source(
    value: Mapping[str, Any],
    *,
    raw_key: str,
    environ: Mapping[str, str] | None,
    path: str,
    problems: Problems,
    leading_env: list[dict[str, Any]] | None = None,
) -> K8sConfig:
    base = _shorthand_config(
        value, environ=environ, path=path, problems=problems, leading_env=leading_env or []
    )
    sections, behavior = parse_sections(
        value.get(raw_key), path=child_path(path, raw_key), problems=problems, allowed=JOB_SECTIONS
    )
    return merge_configs(base, K8sConfig.from_sections(sections, behavior))


def _shorthand_config(
    value: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None,
    path: str,
    problems: Problems,
    leading_env: list[dict[str, Any]],
) -> K8sConfig:
    sections: dict[str, dict[str, Any]] = {name: {} for name in JOB_SECTIONS}
    for key, (section, model, snake) in _FIELD_KEYS.items():
        if value.get(key) not in (None, [], {}):
            camel_value = normalise_field(
                model, snake, value[key], path=child_path(path, key), problems=problems
            )
            sections[section][_camel(snake)] = camel_value
    if "labels" in sections["job_metadata"]:
        sections["pod_template_spec_metadata"]["labels"] = sections["job_metadata"]["labels"]
    references = env_from(value, path=path, problems=problems)
    if references:
        sections["container_config"]["envFrom"] = references
    env = upper_wins(
        leading_env,
        env_vars(value.get("env_vars"), environ, path=child_path(path, "env_vars"), problems=problems),
        sections["container_config"].pop("env", None) or [],
    )
    if env:
        sections["container_config"]["env"] = env
    return K8sConfig.from_sections(sections)


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


def _namespace(value: object, *, path: str, problems: Problems) -> str | None:
    namespace = optional_str(value, path=path, problems=problems)
    if namespace is not None and not is_dns1123_label(namespace):
        problems.add(path, "not a valid namespace name (DNS-1123 label)")
    return namespace
