"""Lists of named Kubernetes objects and the key that identifies an item in each.

The merge uses these keys to let an upper layer replace an item instead of appending a second
one, and the parser uses them to reject a list that names one item twice: within one list the
API server refuses duplicate containers, volumes or mount paths outright and silently applies
the last of two env vars, so a duplicate is either a rejected pod or a value that is not the one
the reader of the config sees first. Kept free of other `spec` imports so both can use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

Identity = Callable[[Mapping[str, Any]], "str | None"]


def _by_name(item: Mapping[str, Any]) -> str | None:
    name = item.get("name")
    return name if isinstance(name, str) else None


def _by(field: str) -> Identity:
    def identity(item: Mapping[str, Any]) -> str | None:
        value = item.get(field)
        return None if value is None else str(value)

    return identity


def _port_identity(item: Mapping[str, Any]) -> str | None:
    port = item.get("containerPort")
    if port is None:
        return None
    protocol = item.get("protocol") or "TCP"
    return str(port) if protocol == "TCP" else f"{port}/{protocol}"


def _env_from_identity(item: Mapping[str, Any]) -> str | None:
    for ref in ("configMapRef", "secretRef"):
        source = item.get(ref)
        if isinstance(source, Mapping) and isinstance(source.get("name"), str):
            prefix = item.get("prefix")
            return f"{ref}:{source['name']}" + (f":{prefix}" if prefix else "")
    return None


# list field -> identity of an item; items with equal identity are merged, not duplicated
NAMED_LISTS: Final[Mapping[str, Identity]] = {
    "containers": _by_name,
    "initContainers": _by_name,
    "ephemeralContainers": _by_name,
    "env": _by_name,
    "volumes": _by_name,
    "imagePullSecrets": _by_name,
    "resourceClaims": _by_name,
    "volumeMounts": _by("mountPath"),
    "volumeDevices": _by("devicePath"),
    "ports": _port_identity,
    "hostAliases": _by("ip"),
    "ownerReferences": _by("uid"),
    "envFrom": _env_from_identity,
}
# Lists in which a repeated key is rejected when parsed. A repeated reference in `envFrom`,
# `imagePullSecrets` or `hostAliases` means what one occurrence means (the API server accepts it
# too), so those are collapsed like layers, the last occurrence winning.
REPEATS_REJECTED: Final = frozenset(
    {"containers", "initContainers", "ephemeralContainers", "env", "volumes", "resourceClaims"}
    | {"volumeMounts", "volumeDevices", "ports"}
)
# what the message calls the identifying key (never the value: any string may be a secret)
KEY_NAMES: Final[Mapping[str, str]] = {
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort and protocol",
    "hostAliases": "ip",
    "ownerReferences": "uid",
    "envFrom": "referenced ConfigMap/Secret and prefix",
}


def duplicates(field: str, items: Sequence[object]) -> list[tuple[int, int]]:
    """(index, index of its first occurrence) for every item whose key repeats an earlier one."""
    identity = NAMED_LISTS.get(field)
    if identity is None or field not in REPEATS_REJECTED:
        return []
    first: dict[str, int] = {}
    found = []
    for index, item in enumerate(items):
        key = identity(item) if isinstance(item, Mapping) else None
        if key is None:
            continue
        if key in first:
            found.append((index, first[key]))
        else:
            first[key] = index
    return found


def duplicate_reason(field: str, first: int) -> str:
    key = KEY_NAMES.get(field, "name")
    return f"same {key} as item [{first}]; each {key} may appear once in `{field}` (remove one)"
