"""API-server rules on integers and on combinations of fields of one object.

The generated field table knows that `backoffLimit` is an integer and that a volume has a
`secret` and an `emptyDir` field; the API server also requires `backoffLimit >= 0` and one
volume source, not two. A Job that breaks such a rule is refused at launch, after the run was
queued; here it is a `ConfigError` at parse time with the key path. Messages state the rule,
never the value (any string of a config may be a secret).

The ranges are the ones `k8s.io/kubernetes/pkg/apis/{core,batch}/validation` enforce (v1.32);
`tests/integration/spec/test_apiserver_parity.py` checks them against a real API server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from dagster_ext.k8s.spec.labels import label_key_problem, label_value_problem

INT32_MAX: Final = 2**31 - 1
INT64_MAX: Final = 2**63 - 1
NON_NEGATIVE: Final = (0, INT32_MAX)
FILE_MODE: Final = (0, 0o777)

# (model, snake_case field) -> inclusive (min, max)
INT_RANGES: Final[Mapping[tuple[str, str], tuple[int, int]]] = {
    ("V1JobSpec", "parallelism"): NON_NEGATIVE,
    ("V1JobSpec", "completions"): NON_NEGATIVE,
    ("V1JobSpec", "active_deadline_seconds"): (0, INT64_MAX),
    ("V1JobSpec", "backoff_limit"): NON_NEGATIVE,
    ("V1JobSpec", "ttl_seconds_after_finished"): NON_NEGATIVE,
    ("V1JobSpec", "backoff_limit_per_index"): NON_NEGATIVE,
    ("V1JobSpec", "max_failed_indexes"): NON_NEGATIVE,
    ("V1PodSpec", "active_deadline_seconds"): (1, INT32_MAX),
    ("V1ContainerPort", "container_port"): (1, 65535),
    ("V1ContainerPort", "host_port"): (0, 65535),
    ("V1Probe", "initial_delay_seconds"): NON_NEGATIVE,
    ("V1Probe", "timeout_seconds"): NON_NEGATIVE,
    ("V1Probe", "period_seconds"): NON_NEGATIVE,
    ("V1Probe", "success_threshold"): NON_NEGATIVE,
    ("V1Probe", "failure_threshold"): NON_NEGATIVE,
    ("V1Probe", "termination_grace_period_seconds"): (1, INT64_MAX),
    ("V1SecretVolumeSource", "default_mode"): FILE_MODE,
    ("V1ConfigMapVolumeSource", "default_mode"): FILE_MODE,
    ("V1KeyToPath", "mode"): FILE_MODE,
}

# model -> (camelCase fields of which at most one may be set, least one required?)
_ONE_OF: Final[Mapping[str, tuple[frozenset[str], bool, str]]] = {
    "V1EnvFromSource": (frozenset({"configMapRef", "secretRef"}), True, "configMapRef or secretRef"),
    "V1EnvVarSource": (
        frozenset({"configMapKeyRef", "fieldRef", "resourceFieldRef", "secretKeyRef", "fileKeyRef"}),
        True,
        "configMapKeyRef, fieldRef, resourceFieldRef or secretKeyRef",
    ),
}
_VOLUME_FIELDS: Final = frozenset({"name"})


def int_range_problem(model: str, snake: str, value: int) -> str | None:
    bounds = INT_RANGES.get((model, snake))
    if bounds is None:
        return None
    low, high = bounds
    if low <= value <= high:
        return None
    if high in (INT32_MAX, INT64_MAX):
        return f"must be an integer >= {low}"
    return f"must be an integer from {low} to {high}"


def object_problems(model: str, value: Mapping[str, object]) -> list[tuple[str | None, str]]:
    """(child field or None for the object itself, reason) for rules spanning several fields."""
    set_fields = {key for key, item in value.items() if item is not None}
    if model == "V1Volume":
        sources = sorted(set_fields - _VOLUME_FIELDS)
        if len(sources) > 1:
            return [(None, "a volume has one source (emptyDir, secret, configMap, ...); set only one")]
        return []
    if model == "V1Toleration":
        return _toleration_problems(value)
    if model == "V1EnvVar":
        if "valueFrom" in set_fields and value.get("value"):
            return [("valueFrom", "set either `value` or `valueFrom`, not both")]
        return []
    rule = _ONE_OF.get(model)
    if rule is None:
        return []
    fields, required, names = rule
    chosen = set_fields & fields
    if len(chosen) > 1 or (required and not chosen):
        return [(None, f"set exactly one of {names}")]
    return []


def _toleration_problems(value: Mapping[str, object]) -> list[tuple[str | None, str]]:
    """`ValidateTolerations`: the key is a label key, an empty key needs `Exists`, `Exists` takes
    no value, `Equal` a label value, `tolerationSeconds` only with `NoExecute`."""
    key, operator = value.get("key") or "", value.get("operator") or "Equal"
    text = value.get("value") or ""
    found: list[tuple[str | None, str]] = []
    if isinstance(key, str) and key and (reason := label_key_problem(key)):
        found.append(("key", reason))
    if not key and operator != "Exists":
        found.append(("operator", "must be 'Exists' when `key` is empty (match all keys)"))
    if value.get("tolerationSeconds") is not None and value.get("effect") != "NoExecute":
        found.append(("effect", "must be 'NoExecute' when `tolerationSeconds` is set"))
    if operator == "Exists" and text:
        found.append(("value", "must be empty when `operator` is 'Exists'"))
    if operator == "Equal" and isinstance(text, str) and (reason := label_value_problem(text)):
        found.append(("value", reason))
    return found
