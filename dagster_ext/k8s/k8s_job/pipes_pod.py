"""`PipesK8sClient.run()`'s pod arguments turned into an `execute_k8s_job` call (pure; no Dagster, no I/O).

dagster-k8s builds a bare pod from `base_pod_meta`/`base_pod_spec` alone. Here the external K8s Job
starts from the calling step's pod configuration, as `execute_k8s_job`'s does, and the call's
arguments sit on top as two layers of the call:

* the shorthand layer: the Pipes bootstrap env vars (how the pod finds its context and where it
  writes messages), then the client's `env`, then the call's `env`, later ones winning;
* the raw sections: `base_pod_meta` is the pod template's metadata, `base_pod_spec` the pod spec;
  its first container is the Pipes container, which is the K8s Job's main container (its fields go
  to `container_config`, so they merge with what the step's pod configuration says about it).

Other containers of `base_pod_spec` (and its init containers) get the Pipes context too, with
messages sent nowhere unless they say otherwise, as in dagster-k8s: they may read the context, only
the Pipes container reports back.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from dagster_pipes import DAGSTER_PIPES_CONTEXT_ENV_VAR, DAGSTER_PIPES_MESSAGES_ENV_VAR, encode_env_var

from dagster_ext.errors import ConfigError
from dagster_ext.k8s.client import ConnectionSettings
from dagster_ext.k8s.k8s_job.config import K8sJobCall, parse_k8s_job_call
from dagster_ext.k8s.spec import parse_k8s_container_context
from dagster_ext.k8s.spec.checks import describe

# Messages of the containers other than the Pipes one go nowhere (dagster-k8s's choice).
DEV_NULL_MESSAGES: Final = encode_env_var({"path": "/dev/null"})
INIT_CONTAINER_KEYS: Final = ("init_containers", "initContainers")


def parse_pipes_call(
    *,
    image: str | None,
    command: str | Sequence[str] | None,
    namespace: str | None,
    env: Sequence[Mapping[str, str] | None],
    base_pod_meta: Mapping[str, Any] | None,
    base_pod_spec: Mapping[str, Any] | None,
    bootstrap_env: Mapping[str, str],
    keys: Mapping[str, Any],
    connection: ConnectionSettings,
    environ: Mapping[str, str],
    path: str,
) -> K8sJobCall:
    """One `run()` call as a validated `K8sJobCall`: `env` (the client's, then the call's) after
    the bootstrap env vars is the shorthand layer; `keys` are `execute_k8s_job` keys
    (`timeout`, `delete_failed_k8s_jobs`, ours). Raises `ConfigError` naming the key."""
    config = pipes_call_config(
        image=image,
        command=command,
        namespace=namespace,
        base_pod_meta=base_pod_meta,
        base_pod_spec=base_pod_spec,
        bootstrap_env=bootstrap_env,
        path=path,
    )
    env_list = pipes_env(bootstrap_env, *env)
    try:
        call = parse_k8s_job_call({**config, **keys}, path=path, environ=environ)
        shorthand = parse_k8s_container_context({"env": env_list}, environ=environ, path=f"{path}.env")
    except ConfigError as err:
        names = [item["name"] for item in env_list]
        raise ConfigError(
            user_paths(err.reason, path, names), path=user_paths(err.path, path, names)
        ) from err
    return replace(call, shorthand=shorthand.k8s_config, connection=connection)


def user_paths(text: str, path: str, env_names: Sequence[str]) -> str:
    """Key paths as the user wrote them: `base_pod_spec.containers[0]` for the Pipes container
    (checked as `container_config`), `base_pod_meta` for the pod template metadata, `env.NAME`."""
    root = re.escape(path)

    def other_container(match: re.Match[str]) -> str:
        return f"{path}.base_pod_spec.containers[{int(match[1]) + 1}]"

    def env_name(match: re.Match[str]) -> str:
        index = int(match[1])
        return f"{path}.env.{env_names[index]}" if index < len(env_names) else match[0]

    text = re.sub(rf"{root}\.pod_spec_config\.containers\[(\d+)\]", other_container, text)
    text = re.sub(rf"{root}\.env\.env\[(\d+)\](\.value)?", env_name, text)
    for ours, theirs in (
        ("container_config", "base_pod_spec.containers[0]"),
        ("pod_spec_config", "base_pod_spec"),
        ("pod_template_spec_metadata", "base_pod_meta"),
    ):
        text = re.sub(rf"{root}\.{ours}\b", f"{path}.{theirs}", text)
    return text


def pipes_env(*envs: Mapping[str, str] | None) -> list[dict[str, str]]:
    """One env list from several mappings, a later mapping winning for a name."""
    merged: dict[str, str] = {}
    for env in envs:
        merged.update(env or {})
    return [{"name": name, "value": value} for name, value in merged.items()]


def command_list(command: str | Sequence[str] | None, *, path: str) -> list[str] | None:
    """dagster-k8s accepts a string too (and passes it on as is, which Kubernetes refuses); a
    string is split as a shell would split it."""
    if command is None:
        return None
    if isinstance(command, str):
        return shlex.split(command)
    if isinstance(command, Sequence) and all(isinstance(part, str) for part in command):
        return list(command)
    raise ConfigError(f"expected a list of strings or a string, got {describe(command)}", path=path)


def split_base_pod_spec(
    base_pod_spec: Mapping[str, Any] | None, *, context_value: str | None, path: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(container_config, pod_spec_config): the first container is the Pipes container; the
    other containers and the init containers are given the Pipes context to read."""
    if base_pod_spec is None:
        return {}, {}
    if not isinstance(base_pod_spec, Mapping):
        raise ConfigError(f"expected a mapping (a PodSpec), got {describe(base_pod_spec)}", path=path)
    spec = dict(base_pod_spec)
    containers = spec.pop("containers", None) or []
    if not isinstance(containers, list) or not all(isinstance(c, Mapping) for c in containers):
        raise ConfigError("expected a list of containers (mappings)", path=f"{path}.containers")
    main = dict(containers[0]) if containers else {}
    others = [_with_context(dict(c), context_value) for c in containers[1:]]
    if others:
        spec["containers"] = others
    for key in INIT_CONTAINER_KEYS:
        inits = spec.get(key)
        if isinstance(inits, list):
            spec[key] = [
                _with_context(dict(c), context_value) if isinstance(c, Mapping) else c for c in inits
            ]
    return main, spec


def _with_context(container: dict[str, Any], context_value: str | None) -> dict[str, Any]:
    if context_value is None:
        return container
    env = [dict(item) if isinstance(item, Mapping) else item for item in container.get("env") or []]
    names = {item.get("name") for item in env if isinstance(item, dict)}
    if DAGSTER_PIPES_CONTEXT_ENV_VAR not in names:
        env.append({"name": DAGSTER_PIPES_CONTEXT_ENV_VAR, "value": context_value})
    if DAGSTER_PIPES_MESSAGES_ENV_VAR not in names:  # a container may write messages to a shared file
        env.append({"name": DAGSTER_PIPES_MESSAGES_ENV_VAR, "value": DEV_NULL_MESSAGES})
    return {**container, "env": env}


def pipes_call_config(
    *,
    image: str | None,
    command: str | Sequence[str] | None,
    namespace: str | None,
    base_pod_meta: Mapping[str, Any] | None,
    base_pod_spec: Mapping[str, Any] | None,
    bootstrap_env: Mapping[str, str],
    path: str,
) -> dict[str, Any]:
    """The keys of an `execute_k8s_job` call (validated later by `parse_k8s_job_call`), without
    the env, which is the shorthand layer (`pipes_env`)."""
    container, pod_spec = split_base_pod_spec(
        base_pod_spec,
        context_value=bootstrap_env.get(DAGSTER_PIPES_CONTEXT_ENV_VAR),
        path=f"{path}.base_pod_spec",
    )
    if image:
        container["image"] = image  # the argument wins over the first container's image
    config: dict[str, Any] = {
        "image": container.get("image"),
        "command": command_list(command, path=f"{path}.command"),
        "namespace": namespace,
        "container_config": container,
        "pod_spec_config": pod_spec,
        "pod_template_spec_metadata": _pod_meta(base_pod_meta, path=f"{path}.base_pod_meta"),
    }
    return {key: value for key, value in config.items() if value not in (None, {})}


def _pod_meta(base_pod_meta: Mapping[str, Any] | None, *, path: str) -> dict[str, Any]:
    """The pod template's metadata; a name is dropped (the Job controller names its pods)."""
    if base_pod_meta is None:
        return {}
    if not isinstance(base_pod_meta, Mapping):
        raise ConfigError(f"expected a mapping (an ObjectMeta), got {describe(base_pod_meta)}", path=path)
    return {key: value for key, value in base_pod_meta.items() if key != "name"}
