"""Semantic checks the OpenAPI types do not express but the API server enforces.

The generated table says `resources.limits` is `dict[str, str]`; the API server additionally
requires quantities there, label syntax in `labels` and `nodeSelector`, DNS-1123 names for
containers and volumes, and one of a few values for enums. Each such rule lives here, keyed by
(model, snake_case field), so adding one is a one-line change.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping

from dagster_ext.k8s.quantities import quantity_problem
from dagster_ext.k8s.spec.labels import label_key_problem, label_value_problem
from dagster_ext.k8s.spec.names import is_dns1123_label, is_dns1123_subdomain

# (path, reason) pairs; a special check replaces the type check of its field
SpecialCheck = Callable[[object, str], list[tuple[str, str]]]
StringCheck = Callable[[str], "str | None"]

_PLAIN_KEY_RE = re.compile(r"^[A-Za-z0-9_]+\Z")
_CONFIG_MAP_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+\Z")
_PORT_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")


_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def describe(value: object) -> str:
    """The shape of a value for an error message, never the value: any string may be a secret."""
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return _TYPE_NAMES.get(type(value), f"a {type(value).__name__}")


def _key_path(parent: str, key: str) -> str:
    return f"{parent}.{key}" if _PLAIN_KEY_RE.match(key) else f"{parent}[{key}]"


def _mapping_problems(value: object, path: str) -> list[tuple[str, str]] | None:
    if isinstance(value, Mapping) and all(isinstance(key, str) for key in value):
        return None
    return [(path, "expected a mapping with string keys")]


def _quantity_map(value: object, path: str) -> list[tuple[str, str]]:
    problems = _mapping_problems(value, path)
    if problems is not None:
        return problems
    assert isinstance(value, Mapping)
    found = []
    for key, item in value.items():
        reason = quantity_problem(item)
        if reason:
            found.append((_key_path(path, key), reason))
    return found


def _quantity_scalar(value: object, path: str) -> list[tuple[str, str]]:
    reason = quantity_problem(value)
    return [(path, reason)] if reason else []


def _string_map(value: object, path: str, *, check_values: bool) -> list[tuple[str, str]]:
    problems = _mapping_problems(value, path)
    if problems is not None:
        return problems
    assert isinstance(value, Mapping)
    found = []
    for key, item in value.items():
        item_path = _key_path(path, key)
        key_reason = label_key_problem(key)
        if key_reason:
            found.append((item_path, key_reason))
        if not isinstance(item, str):
            found.append((item_path, f"expected a string value, got {describe(item)}"))
        elif check_values:
            value_reason = label_value_problem(item)
            if value_reason:
                found.append((item_path, value_reason))
    return found


def _label_map(value: object, path: str) -> list[tuple[str, str]]:
    return _string_map(value, path, check_values=True)


def _annotation_map(value: object, path: str) -> list[tuple[str, str]]:
    return _string_map(value, path, check_values=False)


_SPECIAL: dict[tuple[str, str], SpecialCheck] = {
    ("V1ResourceRequirements", "limits"): _quantity_map,
    ("V1ResourceRequirements", "requests"): _quantity_map,
    ("V1VolumeResourceRequirements", "limits"): _quantity_map,
    ("V1VolumeResourceRequirements", "requests"): _quantity_map,
    ("V1PodSpec", "overhead"): _quantity_map,
    ("V1EmptyDirVolumeSource", "size_limit"): _quantity_scalar,
    ("V1ObjectMeta", "labels"): _label_map,
    ("V1LabelSelector", "match_labels"): _label_map,
    ("V1PodSpec", "node_selector"): _label_map,
    ("V1ObjectMeta", "annotations"): _annotation_map,
}


def _dns_label(value: str) -> str | None:
    if is_dns1123_label(value):
        return None
    return (
        "not a valid name: at most 63 lower-case letters, digits and '-', "
        "starting and ending with a letter or digit"
    )


def _dns_subdomain(value: str) -> str | None:
    if is_dns1123_subdomain(value):
        return None
    return (
        "not a valid object name: at most 253 lower-case letters, digits, '-' and '.', "
        "starting and ending with a letter or digit"
    )


def _dns_label_if_set(value: str) -> str | None:
    """Optional names (hostname, subdomain): empty means unset, as for the API server."""
    return _dns_label(value) if value else None


def _dns_subdomain_if_set(value: str) -> str | None:
    return _dns_subdomain(value) if value else None


def _config_map_key(value: str) -> str | None:
    if value not in ("", ".", "..") and len(value) <= 253 and _CONFIG_MAP_KEY_RE.match(value):
        return None
    return "not a valid key: at most 253 letters, digits, '-', '_' and '.' (not '.' or '..')"


def _port_name(value: str) -> str | None:
    """IANA service name, as the API server checks `ports[].name`."""
    if not value or (
        len(value) <= 15
        and _PORT_NAME_RE.match(value)
        and "--" not in value
        and any(c.isalpha() for c in value)
    ):
        return None
    return (
        "not a valid port name: at most 15 lower-case letters, digits and '-', with at least one "
        "letter, no '--', starting and ending with a letter or digit"
    )


def _env_name(value: str) -> str | None:
    if not value:
        return "environment variable name must not be empty"
    if "=" in value or not value.isprintable() or not value.isascii():
        return "not a valid environment variable name (printable ASCII without '=')"
    return None


def _one_of(*allowed: str) -> StringCheck:
    def check(value: str) -> str | None:
        if value in allowed:
            return None
        options = ", ".join(repr(option) for option in allowed)
        by_case = {option.lower(): option for option in allowed}
        match = by_case.get(value.lower()) or next(iter(difflib.get_close_matches(value, allowed, n=1)), None)
        hint = f"; did you mean {match!r}?" if match else ""
        return f"must be one of {options}{hint}"

    return check


_STRING: dict[tuple[str, str], StringCheck] = {
    ("V1Container", "name"): _dns_label,
    ("V1EphemeralContainer", "name"): _dns_label,
    ("V1Volume", "name"): _dns_label,
    ("V1EnvVar", "name"): _env_name,
    ("V1EnvFromSource", "prefix"): lambda value: _env_name(value) if value else None,
    ("V1Container", "image_pull_policy"): _one_of("Always", "IfNotPresent", "Never"),
    ("V1PodSpec", "restart_policy"): _one_of("Always", "OnFailure", "Never"),
    ("V1PodSpec", "dns_policy"): _one_of("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"),
    ("V1Toleration", "operator"): _one_of("Exists", "Equal"),
    ("V1Toleration", "effect"): _one_of("", "NoSchedule", "PreferNoSchedule", "NoExecute"),
    ("V1Container", "termination_message_policy"): _one_of("File", "FallbackToLogsOnError"),
    ("V1ContainerPort", "protocol"): _one_of("TCP", "UDP", "SCTP"),
    ("V1ContainerPort", "name"): _port_name,
    ("V1JobSpec", "completion_mode"): _one_of("NonIndexed", "Indexed"),
    ("V1JobSpec", "pod_replacement_policy"): _one_of("TerminatingOrFailed", "Failed"),
    ("V1PodSpec", "preemption_policy"): _one_of("PreemptLowerPriority", "Never"),
    # names of objects a pod refers to: the API server checks some; a name it does not check but
    # that no object can have (a secret volume's `secretName`) leaves the pod waiting forever
    ("V1PodSpec", "service_account_name"): _dns_subdomain_if_set,
    ("V1PodSpec", "service_account"): _dns_subdomain_if_set,
    ("V1PodSpec", "priority_class_name"): _dns_subdomain_if_set,
    ("V1PodSpec", "hostname"): _dns_label_if_set,
    ("V1PodSpec", "subdomain"): _dns_label_if_set,
    ("V1SecretKeySelector", "name"): _dns_subdomain,
    ("V1SecretKeySelector", "key"): _config_map_key,
    ("V1ConfigMapKeySelector", "name"): _dns_subdomain,
    ("V1ConfigMapKeySelector", "key"): _config_map_key,
    ("V1SecretEnvSource", "name"): _dns_subdomain,
    ("V1ConfigMapEnvSource", "name"): _dns_subdomain,
    ("V1SecretVolumeSource", "secret_name"): _dns_subdomain,
    ("V1ConfigMapVolumeSource", "name"): _dns_subdomain,
    ("V1PersistentVolumeClaimVolumeSource", "claim_name"): _dns_subdomain,
    ("V1LocalObjectReference", "name"): _dns_subdomain_if_set,
}


def special_check(model: str, snake: str) -> SpecialCheck | None:
    return _SPECIAL.get((model, snake))


def field_check(model: str, snake: str) -> StringCheck | None:
    return _STRING.get((model, snake))
