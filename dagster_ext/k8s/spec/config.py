"""One `dagster-k8s/config` value: its sections, validated and normalised to camelCase.

dagster-k8s accepts any keys in the sections (`Permissive()`) and only fails when the Kubernetes
client model is built at launch time; here every key is checked when the value is parsed, so a
tag typo is reported with its key path before a run is queued or a pod is created.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, Literal

from dagster_ext.k8s.spec.bounds import text_problem, value_problem
from dagster_ext.k8s.spec.checks import describe
from dagster_ext.k8s.spec.schema import (
    Problems,
    child_path,
    convert_object_keys,
    normalise_field,
    normalise_object,
    suggest,
)

USER_CONFIG_TAG: Final = "dagster-k8s/config"
RESOURCE_REQUIREMENTS_TAG: Final = "dagster-k8s/resource_requirements"  # deprecated, still honoured

# section -> Kubernetes model it holds
JOB_SECTIONS: Final[Mapping[str, str]] = {
    "container_config": "V1Container",
    "pod_template_spec_metadata": "V1ObjectMeta",
    "pod_spec_config": "V1PodSpec",
    "job_config": "V1Job",
    "job_metadata": "V1ObjectMeta",
    "job_spec_config": "V1JobSpec",
}
# the code-server variant of a container context (`server_k8s_config`)
SERVER_SECTIONS: Final[Mapping[str, str]] = {
    "container_config": "V1Container",
    "pod_template_spec_metadata": "V1ObjectMeta",
    "pod_spec_config": "V1PodSpec",
    "deployment_metadata": "V1ObjectMeta",
    "service_metadata": "V1ObjectMeta",
    "service_spec_config": "V1ServiceSpec",
}
MERGE_BEHAVIOR_KEY: Final = "merge_behavior"


class MergeBehavior(str, Enum):
    """How a layer's sections combine with the layers below it."""

    DEEP = "DEEP"  # dicts merged recursively, named lists merged by key, other lists appended
    SHALLOW = "SHALLOW"  # each section's top-level keys replace the lower layers' values


@dataclass(frozen=True)
class K8sConfig:
    """A validated `dagster-k8s/config`: each section is a camelCase dict of its model's fields."""

    container_config: Mapping[str, Any] = field(default_factory=dict)
    pod_template_spec_metadata: Mapping[str, Any] = field(default_factory=dict)
    pod_spec_config: Mapping[str, Any] = field(default_factory=dict)
    job_config: Mapping[str, Any] = field(default_factory=dict)
    job_metadata: Mapping[str, Any] = field(default_factory=dict)
    job_spec_config: Mapping[str, Any] = field(default_factory=dict)
    merge_behavior: MergeBehavior = MergeBehavior.DEEP

    def sections(self) -> dict[str, Mapping[str, Any]]:
        return {name: getattr(self, name) for name in JOB_SECTIONS}

    @property
    def is_empty(self) -> bool:
        return not any(self.sections().values())

    def to_dict(self, *, style: Literal["camel", "snake"] = "camel") -> dict[str, Any]:
        """The tag form (`merge_behavior` as a string); snake_case for dagster-k8s's classes."""
        result: dict[str, Any] = {
            name: convert_object_keys(section, JOB_SECTIONS[name], style=style)
            for name, section in self.sections().items()
        }
        result[MERGE_BEHAVIOR_KEY] = self.merge_behavior.value
        return result

    @classmethod
    def from_sections(
        cls, sections: Mapping[str, Mapping[str, Any]], merge_behavior: MergeBehavior = MergeBehavior.DEEP
    ) -> K8sConfig:
        """Build from already-normalised sections (no validation)."""
        return cls(
            container_config=dict(sections.get("container_config") or {}),
            pod_template_spec_metadata=dict(sections.get("pod_template_spec_metadata") or {}),
            pod_spec_config=dict(sections.get("pod_spec_config") or {}),
            job_config=dict(sections.get("job_config") or {}),
            job_metadata=dict(sections.get("job_metadata") or {}),
            job_spec_config=dict(sections.get("job_spec_config") or {}),
            merge_behavior=merge_behavior,
        )


def parse_k8s_config(value: object, *, path: str = USER_CONFIG_TAG) -> K8sConfig:
    """Parse one `dagster-k8s/config` value: a dict, or the JSON string Dagster stores in tags.

    Raises `ConfigError` listing every problem with its key path under `path`.
    """
    problems = Problems()
    sections, behavior = parse_sections(value, path=path, problems=problems, allowed=JOB_SECTIONS)
    problems.raise_if_any()
    return K8sConfig.from_sections(sections, behavior)


def parse_sections(
    value: object, *, path: str, problems: Problems, allowed: Mapping[str, str]
) -> tuple[dict[str, dict[str, Any]], MergeBehavior]:
    """Validate a sections mapping (job or code-server variant); problems are collected."""
    value = decode_json(value, path=path, problems=problems)
    if value is None:
        return {}, MergeBehavior.DEEP
    if not isinstance(value, Mapping):
        problems.add(path, f"expected a mapping of sections ({', '.join(allowed)}), got {describe(value)}")
        return {}, MergeBehavior.DEEP
    sections: dict[str, dict[str, Any]] = {}
    behavior = MergeBehavior.DEEP
    for key, section in value.items():
        section_path = child_path(path, str(key))
        if key == MERGE_BEHAVIOR_KEY:
            behavior = parse_merge_behavior(section, path=section_path, problems=problems)
        elif key in allowed:
            if section is not None:
                sections[key] = normalise_object(
                    section, allowed[key], path=section_path, problems=problems, check_required=False
                )
        else:
            match = suggest(str(key), [*allowed, MERGE_BEHAVIOR_KEY])
            hint = f"did you mean {match!r}?" if match else f"expected one of {', '.join(allowed)}"
            problems.add(section_path, f"unknown section; {hint}")
    if allowed is JOB_SECTIONS:
        _check_job_restart_policy(sections, path=path, problems=problems)
    return sections, behavior


def _check_job_restart_policy(sections: Mapping[str, Any], *, path: str, problems: Problems) -> None:
    """A Job's pod may not restart `Always` (the Job controller restarts failed pods itself);
    valid for the pod model in general, so the field table cannot say it."""
    job_pod: Any = sections.get("job_config")
    for key in ("spec", "template", "spec"):
        job_pod = job_pod.get(key) if isinstance(job_pod, Mapping) else None
    for where, pod_spec in (
        (child_path(path, "pod_spec_config"), sections.get("pod_spec_config")),
        (child_path(path, "job_config") + ".spec.template.spec", job_pod),
    ):
        if isinstance(pod_spec, Mapping) and pod_spec.get("restartPolicy") == "Always":
            problems.add(
                child_path(where, "restartPolicy"),
                "a Job's pod must use restartPolicy 'Never' or 'OnFailure'",
            )


def parse_merge_behavior(value: object, *, path: str, problems: Problems) -> MergeBehavior:
    if isinstance(value, MergeBehavior):
        return value
    if isinstance(value, str) and value.upper() in MergeBehavior.__members__:
        return MergeBehavior[value.upper()]
    match = suggest(value.upper(), list(MergeBehavior.__members__)) if isinstance(value, str) else None
    hint = f"; did you mean {match!r}?" if match else ""
    problems.add(path, f"expected 'DEEP' or 'SHALLOW', got {describe(value)}{hint}")
    return MergeBehavior.DEEP


def decode_json(value: object, *, path: str, problems: Problems) -> object:
    """Tags hold JSON strings; config dicts pass through unchanged. Input beyond the size or
    nesting limits (`bounds`) is a problem and decodes to None, so nothing recurses into it."""
    reason = text_problem(value) if isinstance(value, str) else value_problem(value)
    if reason:
        problems.add(path, f"{reason}; a Job's configuration never needs that")
        return None
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as err:
        problems.add(path, f"not valid JSON ({err.msg} at line {err.lineno} column {err.colno})")
        return None


def k8s_config_from_tags(tags: Mapping[str, object]) -> K8sConfig:
    """The `dagster-k8s/config` of a run's or step's tags (plus the deprecated
    `dagster-k8s/resource_requirements` tag, which sets `container_config.resources`).
    """
    problems = Problems()
    raw = tags.get(USER_CONFIG_TAG)
    sections, behavior = parse_sections(raw, path=USER_CONFIG_TAG, problems=problems, allowed=JOB_SECTIONS)
    if RESOURCE_REQUIREMENTS_TAG in tags:
        raw_resources = decode_json(
            tags[RESOURCE_REQUIREMENTS_TAG], path=RESOURCE_REQUIREMENTS_TAG, problems=problems
        )
        resources = normalise_field(
            "V1Container", "resources", raw_resources, path=RESOURCE_REQUIREMENTS_TAG, problems=problems
        )
        sections["container_config"] = {**sections.get("container_config", {}), "resources": resources}
    problems.raise_if_any()
    return K8sConfig.from_sections(sections, behavior)
