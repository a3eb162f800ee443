"""A container's environment, resolved as the kubelet's `makeEnvironmentVariables` does.

Pure: Secrets and ConfigMaps come from an injected `ObjectLookup`. Order of precedence, lowest
first: the base (host) environment, service variables, `envFrom` sources in order, `env` entries
in order; each `env` value is `$(VAR)`-expanded against what was defined before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from dagster_ext.testing.kubelet.errors import ContainerConfigError
from dagster_ext.testing.kubelet.expansion import expand, mapping_for
from dagster_ext.testing.kubelet.quantity import divide_ceil, parse_quantity

JsonDict = dict[str, Any]
Data = Mapping[str, bytes]


class ObjectLookup(Protocol):
    """Reads the data of ConfigMaps and Secrets; None when the object does not exist."""

    def config_map(self, namespace: str, name: str) -> Data | None: ...

    def secret(self, namespace: str, name: str) -> Data | None: ...


@dataclass(frozen=True)
class PodContext:
    """What env and volume resolution may read besides the pod itself."""

    pod: JsonDict
    lookup: ObjectLookup
    host_ip: str = "127.0.0.1"
    node_allocatable: Mapping[str, Decimal] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"]["namespace"])


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def _source_data(ctx: PodContext, kind: str, name: str, optional: bool) -> Data | None:
    data = (
        ctx.lookup.config_map(ctx.namespace, name)
        if kind == "configmap"
        else ctx.lookup.secret(ctx.namespace, name)
    )
    if data is None and not optional:
        raise ContainerConfigError(f'{kind} "{name}" not found')
    return data


def _env_from(ctx: PodContext, sources: list[JsonDict]) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in sources:
        prefix = str(source.get("prefix") or "")
        ref, kind = (
            (source["configMapRef"], "configmap")
            if "configMapRef" in source
            else (
                source["secretRef"],
                "secret",
            )
        )
        data = _source_data(ctx, kind, str(ref["name"]), bool(ref.get("optional")))
        for key, value in (data or {}).items():
            if "=" not in key:
                env[prefix + key] = _text(value)
    return env


def _key_ref(ctx: PodContext, ref: JsonDict, kind: str) -> str | None:
    optional = bool(ref.get("optional"))
    data = _source_data(ctx, kind, str(ref["name"]), optional)
    if data is None:
        return None
    key = str(ref["key"])
    if key not in data:
        if optional:
            return None
        label = "ConfigMap" if kind == "configmap" else "Secret"
        raise ContainerConfigError(f"couldn't find key {key} in {label} {ctx.namespace}/{ref['name']}")
    return _text(data[key])


def field_value(pod: JsonDict, path: str, host_ip: str = "127.0.0.1") -> str:
    """A `fieldRef` value; raises ContainerConfigError for unsupported paths."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
        "status.podIP": host_ip,
        "status.podIPs": host_ip,
    }
    if path in simple:
        return str(simple[path] or "")
    for kind in ("labels", "annotations"):
        values = meta.get(kind) or {}
        if path == f"metadata.{kind}":
            return "\n".join(f'{k}="{values[k]}"' for k in sorted(values))
        if path.startswith(f"metadata.{kind}['") and path.endswith("']"):
            return str(values.get(path[len(f"metadata.{kind}['") : -2], ""))
    raise ContainerConfigError(f"unsupported fieldRef fieldPath {path!r}")


def resource_value(ctx: PodContext, container: JsonDict, ref: JsonDict) -> str:
    """A `resourceFieldRef` value: ceil(quantity / divisor); unset limits fall back to the node."""
    kind, _, resource = str(ref["resource"]).partition(".")
    quantities = (container.get("resources") or {}).get(kind) or {}
    if resource in quantities:
        value = parse_quantity(quantities[resource])
    elif kind == "limits":
        value = ctx.node_allocatable.get(resource, Decimal(0))
    else:
        value = Decimal(0)
    return divide_ceil(value, parse_quantity(ref.get("divisor") or "1"))


def _value_from(ctx: PodContext, container: JsonDict, source: JsonDict) -> str | None:
    if "fieldRef" in source:
        return field_value(ctx.pod, str(source["fieldRef"]["fieldPath"]), ctx.host_ip)
    if "resourceFieldRef" in source:
        return resource_value(ctx, container, source["resourceFieldRef"])
    if "configMapKeyRef" in source:
        return _key_ref(ctx, source["configMapKeyRef"], "configmap")
    if "secretKeyRef" in source:
        return _key_ref(ctx, source["secretKeyRef"], "secret")
    raise ContainerConfigError(f"unsupported valueFrom {sorted(source)}")


def container_env(
    ctx: PodContext, container: JsonDict, *, service_env: Mapping[str, str], base_env: Mapping[str, str]
) -> dict[str, str]:
    """The full environment the container's process gets."""
    defined = _env_from(ctx, list(container.get("envFrom") or ()))
    mapping = mapping_for(defined, service_env)
    for entry in container.get("env") or ():
        value: str | None = str(entry.get("value") or "")
        if value:
            value = expand(value, mapping)
        elif entry.get("valueFrom"):
            value = _value_from(ctx, container, entry["valueFrom"])
            if value is None:
                continue
        defined[str(entry["name"])] = value or ""
    return {**base_env, **service_env, **defined}
