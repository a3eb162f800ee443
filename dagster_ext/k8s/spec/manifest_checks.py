"""Rules the API server applies across the fields of a whole Job, checked on the merged manifest.

Each layer is valid on its own, but a mount of a volume that no layer defines, a sidecar without
an image or an init container named like the main container only exist once the layers are
merged. The renderer checks them before any Job is created; paths are the manifest's, with list
indexes (never names or values: the message must not repeat configuration).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from dagster_ext.k8s.spec.schema import Problems

POD_PATH: Final = "spec.template.spec"
CONTAINER_LISTS: Final = ("containers", "initContainers", "ephemeralContainers")
MAX_INDEXED: Final = 100_000  # parallelism, failed indexes and the completions soft limit of Indexed Jobs
HIGH_COMPLETIONS_LIMIT: Final = 10_000


def check_manifest(manifest: Mapping[str, Any]) -> None:
    """Raise one `ConfigError` listing every cross-field problem of the Job and its pod."""
    problems = Problems()
    pod = manifest.get("spec", {}).get("template", {}).get("spec", {})
    volumes = {volume.get("name") for volume in pod.get("volumes") or []}
    first_name: dict[object, str] = {}
    for path, container in _containers(pod):
        name = container.get("name")
        if name in first_name:
            problems.add(f"{path}.name", f"same name as {first_name[name]}; container names must be unique")
        first_name.setdefault(name, path)
        if not container.get("image") and not path.startswith(f"{POD_PATH}.ephemeralContainers"):
            problems.add(f"{path}.image", "required: every container needs an image")
        _check_container(container, path, volumes, problems)
    if pod.get("dnsPolicy") == "None" and not (pod.get("dnsConfig") or {}).get("nameservers"):
        problems.add(f"{POD_PATH}.dnsConfig.nameservers", "required when dnsPolicy is 'None'")
    _check_job_spec(manifest.get("spec", {}), problems)
    problems.raise_if_any()


def _check_job_spec(spec: Mapping[str, Any], problems: Problems) -> None:
    """Completion-mode rules of `pkg/apis/batch/validation` (v1.32)."""
    completions, parallelism = spec.get("completions"), spec.get("parallelism")
    per_index, max_failed = spec.get("backoffLimitPerIndex"), spec.get("maxFailedIndexes")
    if max_failed is not None and per_index is None:
        problems.add("spec.backoffLimitPerIndex", "required when maxFailedIndexes is set")
    if spec.get("completionMode") != "Indexed":
        for key, value in (("backoffLimitPerIndex", per_index), ("maxFailedIndexes", max_failed)):
            if value is not None:
                problems.add(f"spec.{key}", "requires completionMode 'Indexed'")
        return
    # with neither set the API server defaults both to 1; with parallelism alone, completions stays unset
    if completions is None and parallelism is not None:
        problems.add("spec.completions", "required when completionMode is 'Indexed' and parallelism is set")
    if parallelism is not None and parallelism > MAX_INDEXED:
        problems.add("spec.parallelism", f"at most {MAX_INDEXED} when completionMode is 'Indexed'")
    if max_failed is not None and (
        max_failed > MAX_INDEXED or (completions is not None and max_failed > completions)
    ):
        problems.add("spec.maxFailedIndexes", f"at most completions and at most {MAX_INDEXED}")
    if completions is not None and completions > MAX_INDEXED and per_index is not None:
        if max_failed is None:
            problems.add("spec.maxFailedIndexes", f"required when completions is above {MAX_INDEXED}")
        for key, value in (("parallelism", parallelism), ("maxFailedIndexes", max_failed)):
            if value is not None and value > HIGH_COMPLETIONS_LIMIT:
                problems.add(
                    f"spec.{key}", f"at most {HIGH_COMPLETIONS_LIMIT} when completions is above {MAX_INDEXED}"
                )


def _containers(pod: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for key in CONTAINER_LISTS:
        for index, container in enumerate(pod.get(key) or []):
            yield f"{POD_PATH}.{key}[{index}]", container


def _check_container(
    container: Mapping[str, Any], path: str, volumes: set[object], problems: Problems
) -> None:
    for key in ("volumeMounts", "volumeDevices"):
        for index, mount in enumerate(container.get(key) or []):
            if mount.get("name") not in volumes:
                problems.add(
                    f"{path}.{key}[{index}].name",
                    "no volume of the pod has this name; add it to pod_spec_config.volumes",
                )
    port_names: dict[str, int] = {}
    for index, port in enumerate(container.get("ports") or []):
        name = port.get("name")
        if not name:
            continue
        if name in port_names:
            problems.add(
                f"{path}.ports[{index}].name",
                f"same name as ports[{port_names[name]}]; port names must be unique in a container",
            )
        port_names.setdefault(name, index)
