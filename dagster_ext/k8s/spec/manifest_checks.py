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
        _check_lifecycle(container, path, problems)
    if pod.get("dnsPolicy") == "None" and not (pod.get("dnsConfig") or {}).get("nameservers"):
        problems.add(f"{POD_PATH}.dnsConfig.nameservers", "required when dnsPolicy is 'None'")
    _check_job_spec(manifest.get("spec", {}), problems)
    problems.raise_if_any()


PROBES: Final = ("livenessProbe", "readinessProbe", "startupProbe")
PROBE_HANDLERS: Final = ("exec", "httpGet", "tcpSocket", "grpc")


def _check_lifecycle(container: Mapping[str, Any], path: str, problems: Problems) -> None:
    """Restart policy and probes, checked on the merged container: a container's fields merge
    one by one, so one layer's `exec` and another's `httpGet` meet only here."""
    policy = container.get("restartPolicy")
    is_init = ".initContainers[" in path
    sidecar = is_init and policy == "Always"
    if policy is not None and not is_init:
        problems.add(f"{path}.restartPolicy", "may be set only on init containers")
    elif policy is not None and policy != "Always":
        problems.add(
            f"{path}.restartPolicy", "an init container's restartPolicy may only be 'Always' (a sidecar)"
        )
    for probe_key in PROBES:
        probe = container.get(probe_key)
        if probe is None:
            continue
        probe_path = f"{path}.{probe_key}"
        if is_init and not sidecar:
            problems.add(probe_path, "not allowed on an init container without restartPolicy 'Always'")
            continue
        handlers = [key for key in PROBE_HANDLERS if probe.get(key) is not None]
        if len(handlers) != 1:
            problems.add(probe_path, f"set exactly one of {', '.join(PROBE_HANDLERS)}")
        if probe_key != "readinessProbe" and probe.get("successThreshold") not in (None, 0, 1):
            problems.add(f"{probe_path}.successThreshold", "must be 1")
        if probe_key == "readinessProbe" and probe.get("terminationGracePeriodSeconds") is not None:
            problems.add(f"{probe_path}.terminationGracePeriodSeconds", "not allowed on a readinessProbe")
    if is_init and not sidecar and container.get("lifecycle") is not None:
        problems.add(f"{path}.lifecycle", "not allowed on an init container without restartPolicy 'Always'")


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
