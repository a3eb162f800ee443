"""The arguments of `execute_k8s_job` / the config of `k8s_job_op`, validated into a `K8sJobCall`.

The keys are dagster-k8s's (so switching is an import change) plus a few of ours. Pod keys become
two layers on top of what the K8s Job inherits from its step: the container-context shorthands
(`env_vars`, `resources`, `volumes`, ...; always merged DEEP, as dagster-k8s appends them) and the
raw sections (`container_config`, `pod_spec_config`, ...; merged with the call's `merge_behavior`).
Every problem is reported at once, with the key path the user wrote, before any K8s Job exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from dagster import Array, Bool, Field, Int, Noneable, Permissive, StringSource

from dagster_ext.errors import ConfigError
from dagster_ext.k8s.client import ConnectionSettings
from dagster_ext.k8s.config_schema import container_fields, dagster_ext_fields
from dagster_ext.k8s.spec import (
    DEFAULT_TTL_SECONDS,
    JOB_SECTIONS,
    K8sConfig,
    MergeBehavior,
    is_dns1123_label,
    parse_k8s_config,
    parse_k8s_container_context,
)
from dagster_ext.k8s.spec.bounds import check_bounds
from dagster_ext.k8s.spec.checks import describe
from dagster_ext.k8s.status import DiagnosisSettings

# container-context shorthands a call may set (dagster-k8s's K8sContainerContext keys)
SHORTHAND_KEYS: Final = (
    "image_pull_policy",
    "image_pull_secrets",
    "service_account_name",
    "env_config_maps",
    "env_secrets",
    "env_vars",
    "volume_mounts",
    "volumes",
    "labels",
    "resources",
    "scheduler_name",
    "security_context",
)
LOG_DESTINATIONS: Final = ("context_log", "stdout", "none")
DEFAULT_LOG_TAIL_LINES: Final = 25


@dataclass(frozen=True)
class K8sJobCall:
    """One validated `execute_k8s_job` call: its two config layers and how to run the K8s Job."""

    shorthand: K8sConfig = field(default_factory=K8sConfig)
    sections: K8sConfig = field(default_factory=K8sConfig)
    namespace: str | None = None
    k8s_job_name: str | None = None
    timeout_s: float | None = None
    delete_failed_k8s_jobs: bool = True
    connection: ConnectionSettings = field(default_factory=ConnectionSettings)
    diagnosis: DiagnosisSettings = field(default_factory=DiagnosisSettings)
    log_tail_lines: int = DEFAULT_LOG_TAIL_LINES
    log_destination: str = "context_log"
    inherit_run_tags: bool = True
    inherit_op_tags: bool = True
    enable_owner_references: bool = True
    ttl_seconds_after_finished: int = DEFAULT_TTL_SECONDS


def k8s_job_op_config_schema() -> dict[str, Field]:
    """dagster-k8s's `k8s_job_op` keys with the same meaning, plus the function-only keys
    (`k8s_job_name`, `delete_failed_k8s_jobs`) and ours. Sections stay `Permissive` here:
    `parse_k8s_job_call` validates them with key paths and suggestions."""
    pod_keys = {key: value for key, value in container_fields().items() if key != "job_image"}
    sections = {
        name: Field(Permissive(), is_required=False, description=f"Raw {model} fields (snake or camel case).")
        for name, model in JOB_SECTIONS.items()
        if name != "job_config"
    }
    return {
        **pod_keys,
        "image": Field(StringSource, description="The image of the K8s Job's container."),
        "command": Field(
            Array(str), is_required=False, description="The container's command; unset: the image's."
        ),
        "args": Field(Array(str), is_required=False, description="The container's arguments."),
        "namespace": Field(
            StringSource, is_required=False, description="Namespace of the K8s Job; unset: the step's pod's."
        ),
        "load_incluster_config": Field(
            Noneable(bool),
            is_required=False,
            default_value=None,
            description="Unset (and no kubeconfig_file): in-cluster when the op runs in a pod, else the "
            "K8s run launcher's connection.",
        ),
        "kubeconfig_file": Field(
            Noneable(str), is_required=False, default_value=None, description="kubeconfig to connect with."
        ),
        "timeout": Field(Int, is_required=False, description="Seconds before the op gives up."),
        **sections,
        "merge_behavior": Field(
            StringSource,
            is_required=False,
            default_value="DEEP",
            description="How the call's raw sections merge with inherited ones: DEEP or SHALLOW.",
        ),
        "k8s_job_name": Field(
            Noneable(str), is_required=False, description="Name of the K8s Job; unset: derived from the step."
        ),
        "delete_failed_k8s_jobs": Field(
            Bool, is_required=False, default_value=True, description="Delete the K8s Job when it failed."
        ),
        "inherit_run_tags": Field(
            Bool,
            is_required=False,
            default_value=True,
            description="The pod inherits the Dagster job's dagster-k8s/config tag.",
        ),
        "inherit_op_tags": Field(
            Bool,
            is_required=False,
            default_value=True,
            description="The pod inherits the calling op's dagster-k8s/config tag.",
        ),
        "enable_owner_references": Field(
            Bool,
            is_required=False,
            default_value=True,
            description="The K8s Job is owned by the step's pod, so Kubernetes deletes it with that pod.",
        ),
        "log_destination": Field(
            StringSource,
            is_required=False,
            default_value="context_log",
            description="Where the pods' log lines go: context_log (the op's log), stdout, or none.",
        ),
        **dagster_ext_fields(),
    }


def parse_k8s_job_call(
    config: Mapping[str, Any], *, path: str, environ: Mapping[str, str] | None
) -> K8sJobCall:
    """Validate a call's keys (dagster-k8s names); raise one `ConfigError` listing every problem.

    `environ` resolves `env_vars: [KEY]` from the op's process, as dagster-k8s does.
    """
    check_bounds(config, path=path)
    errors: list[ConfigError] = []
    shorthand = _collect(errors, lambda: _shorthand(config, path=path, environ=environ), K8sConfig())
    sections = _collect(errors, lambda: _sections(config, path=path), K8sConfig())
    problems = [*_call_problems(config, path=path)]
    errors.extend(ConfigError(reason, path=where) for where, reason in problems)
    if errors:
        first, *rest = errors
        raise ConfigError(first.reason + "".join(f"\n{err}" for err in rest), path=first.path)
    return K8sJobCall(
        shorthand=shorthand,
        sections=sections,
        namespace=config.get("namespace") or None,
        k8s_job_name=config.get("k8s_job_name") or None,
        timeout_s=float(config["timeout"]) if config.get("timeout") else None,
        delete_failed_k8s_jobs=_flag(config, "delete_failed_k8s_jobs"),
        connection=ConnectionSettings(
            load_incluster_config=_flag(config, "load_incluster_config"),
            kubeconfig_file=config.get("kubeconfig_file"),
            context=config.get("_kubeconfig_file_context"),
        ),
        diagnosis=DiagnosisSettings.from_config(config),
        log_tail_lines=int(config.get("log_tail_lines") or DEFAULT_LOG_TAIL_LINES),
        log_destination=str(config.get("log_destination") or "context_log"),
        inherit_run_tags=_flag(config, "inherit_run_tags"),
        inherit_op_tags=_flag(config, "inherit_op_tags"),
        enable_owner_references=_flag(config, "enable_owner_references"),
        ttl_seconds_after_finished=int(config.get("k8s_job_ttl_seconds") or DEFAULT_TTL_SECONDS),
    )


def _flag(config: Mapping[str, Any], key: str) -> bool:
    """Keys that default to true in dagster-k8s: None (not given) keeps the default."""
    value = config.get(key)
    return True if value is None else bool(value)


def _collect(errors: list[ConfigError], parse: Any, empty: K8sConfig) -> K8sConfig:
    try:
        result: K8sConfig = parse()
    except ConfigError as err:
        errors.append(err)
        return empty
    return result


def _shorthand(config: Mapping[str, Any], *, path: str, environ: Mapping[str, str] | None) -> K8sConfig:
    given = {key: config[key] for key in SHORTHAND_KEYS if config.get(key) not in (None, [], {})}
    return parse_k8s_container_context(given, environ=environ, path=path).k8s_config


def _sections(config: Mapping[str, Any], *, path: str) -> K8sConfig:
    """The raw sections; `image`, `command` and `args` go into `container_config` the way
    dagster-k8s places them (`command`/`args` win over `container_config`, `image` does not)."""
    raw: dict[str, Any] = {name: config[name] for name in JOB_SECTIONS if config.get(name)}
    container = raw.get("container_config") or {}
    if isinstance(container, Mapping):  # anything else is reported by the parser, with its path
        container = dict(container)
        if isinstance(config.get("image"), str):
            container.setdefault("image", config["image"])
        for key in ("command", "args"):
            if config.get(key):
                container[key] = list(config[key])
    raw["container_config"] = container
    behavior = config.get("merge_behavior")
    raw["merge_behavior"] = getattr(behavior, "value", behavior) or MergeBehavior.DEEP.value
    return parse_k8s_config(raw, path=path)


def _call_problems(config: Mapping[str, Any], *, path: str) -> list[tuple[str, str]]:
    problems = []
    image = config.get("image")
    if not isinstance(image, str) or not image.strip():
        problems.append(
            (f"{path}.image", f"expected the container image (a non-empty string), got {describe(image)}")
        )
    for key in ("command", "args"):
        value = config.get(key)
        if value is not None and not _is_str_list(value):
            problems.append((f"{path}.{key}", f"expected a list of strings, got {describe(value)}"))
    name = config.get("k8s_job_name")
    if name is not None and not (isinstance(name, str) and is_dns1123_label(name)):
        problems.append((f"{path}.k8s_job_name", "not a valid K8s Job name (DNS-1123 label)"))
    namespace = config.get("namespace")
    if namespace is not None and not (isinstance(namespace, str) and is_dns1123_label(namespace)):
        problems.append((f"{path}.namespace", "not a valid namespace name (DNS-1123 label)"))
    timeout = config.get("timeout")
    numeric = isinstance(timeout, int | float) and not isinstance(timeout, bool)
    if timeout is not None and not (numeric and timeout >= 0):
        problems.append((f"{path}.timeout", "expected seconds (a number >= 0)"))
    destination = config.get("log_destination")
    if destination is not None and destination not in LOG_DESTINATIONS:
        problems.append((f"{path}.log_destination", f"expected one of {', '.join(LOG_DESTINATIONS)}"))
    return problems


def _is_str_list(value: object) -> bool:
    if not isinstance(value, Sequence) or isinstance(value, str):
        return False
    return all(isinstance(item, str) for item in value)
