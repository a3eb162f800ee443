"""Pure reads of a pod spec: identities, policies, a container's argv and its mount plan."""

from __future__ import annotations

import posixpath
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dagster_ext.testing.kubelet.errors import ContainerConfigError, ContainerStartError
from dagster_ext.testing.kubelet.expansion import expand, expand_all, mapping_for
from dagster_ext.testing.kubelet.quantity import parse_quantity, to_int_ceil

JsonDict = dict[str, Any]
DEFAULT_GRACE_S = 30


@dataclass(frozen=True)
class PodKey:
    namespace: str
    name: str
    uid: str

    @classmethod
    def of(cls, pod: JsonDict) -> PodKey:
        meta = pod["metadata"]
        return cls(str(meta["namespace"]), str(meta["name"]), str(meta.get("uid") or ""))

    @property
    def dirname(self) -> str:
        """Directory name under the state dir, like the kubelet's /var/log/pods/<ns>_<name>_<uid>."""
        return f"{self.namespace}_{self.name}_{self.uid}"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Mount:
    """Bind-mount `source` (a host path) onto `target` inside the container's mount namespace."""

    source: str
    target: str
    read_only: bool


def spec(pod: JsonDict) -> JsonDict:
    return dict(pod.get("spec") or {})


def init_containers(pod: JsonDict) -> list[JsonDict]:
    return list(spec(pod).get("initContainers") or ())


def containers(pod: JsonDict) -> list[JsonDict]:
    return list(spec(pod).get("containers") or ())


def restart_policy(pod: JsonDict) -> str:
    return str(spec(pod).get("restartPolicy") or "Always")


def is_deleting(pod: JsonDict) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def is_terminal(pod: JsonDict) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def grace_period_s(pod: JsonDict) -> int:
    """The deletion grace period: the API's deletionGracePeriodSeconds, else the spec's."""
    meta = pod.get("metadata") or {}
    for value in (meta.get("deletionGracePeriodSeconds"), spec(pod).get("terminationGracePeriodSeconds")):
        if value is not None:
            return max(0, int(value))
    return DEFAULT_GRACE_S


def memory_limit_bytes(container: JsonDict) -> int | None:
    limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    return to_int_ceil(parse_quantity(limit)) if limit is not None else None


def argv(container: JsonDict, env: Mapping[str, str], search_path: str) -> list[str]:
    """command + args, `$(VAR)`-expanded. Images are not pulled, so their ENTRYPOINT is unknown:
    a container without `command` runs its `args` as the command line."""
    words = expand_all([str(w) for w in container.get("command") or ()], env) + expand_all(
        [str(w) for w in container.get("args") or ()], env
    )
    if not words:
        raise ContainerStartError(
            "no command specified: the dagster-ext kubelet runs processes, not images, so a "
            "container needs `command` (or `args`)"
        )
    if "/" not in words[0] and shutil.which(words[0], path=search_path) is None:
        raise ContainerStartError(f'exec: "{words[0]}": executable file not found in $PATH')
    return words


def working_dir(container: JsonDict, default: str) -> str:
    return str(container.get("workingDir") or default)


def _sub_path(mount: JsonDict, env: Mapping[str, str]) -> str:
    sub = str(mount.get("subPath") or "")
    if not sub and mount.get("subPathExpr"):
        sub = expand(str(mount["subPathExpr"]), mapping_for(env))
    normalised = posixpath.normpath(sub) if sub else ""
    if normalised.startswith(("/", "..")):
        raise ContainerConfigError(f"subPath {sub!r} must be a relative path inside the volume")
    return "" if normalised == "." else normalised


def mount_plan(container: JsonDict, volume_dirs: Mapping[str, str], env: Mapping[str, str]) -> list[Mount]:
    """The container's volumeMounts as bind mounts of materialised volume directories."""
    plan: list[Mount] = []
    for mount in container.get("volumeMounts") or ():
        name = str(mount["name"])
        if name not in volume_dirs:
            raise ContainerConfigError(f'volumeMount "{name}" refers to a volume that is not set up')
        sub = _sub_path(mount, env)
        source = posixpath.join(volume_dirs[name], sub) if sub else volume_dirs[name]
        plan.append(Mount(source, str(mount["mountPath"]), bool(mount.get("readOnly"))))
    return plan


def all_container_names(pod: JsonDict) -> Iterator[str]:
    for container in init_containers(pod) + containers(pod):
        yield str(container["name"])
