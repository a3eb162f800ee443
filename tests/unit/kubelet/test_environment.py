"""Env resolution as the kubelet's makeEnvironmentVariables does it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from dagster_ext.testing.kubelet.environment import PodContext, container_env, field_value
from dagster_ext.testing.kubelet.errors import ContainerConfigError

SERVICE = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443"}


class Lookup:
    def __init__(
        self, config_maps: dict[str, dict[str, bytes]], secrets: dict[str, dict[str, bytes]]
    ) -> None:
        self.config_maps, self.secrets = config_maps, secrets

    def config_map(self, namespace: str, name: str) -> dict[str, bytes] | None:
        return self.config_maps.get(name)

    def secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        return self.secrets.get(name)


def pod(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"app": "x", "b": "y"}},
        "spec": {"nodeName": "node", "serviceAccountName": "sa", **spec},
    }


def resolve(container: dict[str, Any], **lookups: Any) -> dict[str, str]:
    lookup = Lookup(lookups.get("config_maps", {}), lookups.get("secrets", {}))
    ctx = PodContext(pod(containers=[container]), lookup, node_allocatable={"memory": Decimal(2**30)})
    return container_env(ctx, container, service_env=SERVICE, base_env={"PATH": "/bin", "A": "base"})


def test_precedence_base_service_envfrom_env() -> None:
    env = resolve(
        {
            "name": "c",
            "envFrom": [{"configMapRef": {"name": "cm"}}, {"secretRef": {"name": "s"}, "prefix": "S_"}],
            "env": [{"name": "A", "value": "env"}, {"name": "B", "value": "$(A)-$(C)-$(S_K)-$(MISSING)"}],
        },
        config_maps={"cm": {"A": b"cm", "C": b"from-cm"}},
        secrets={"s": {"K": b"secret"}},
    )
    assert env["PATH"] == "/bin"
    assert env["KUBERNETES_SERVICE_PORT"] == "6443"
    assert env["A"] == "env"
    assert env["B"] == "env-from-cm-secret-$(MISSING)"
    assert env["S_K"] == "secret"


def test_value_from_refs() -> None:
    env = resolve(
        {
            "name": "c",
            "resources": {"limits": {"cpu": "500m"}},
            "env": [
                {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
                {"name": "SEC", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
                {
                    "name": "CPU",
                    "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}},
                },
                {
                    "name": "MEM",
                    "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
                },
                {"name": "REF", "value": "$(NAME).$(NS)"},
            ],
        },
        config_maps={"cm": {"k": b"v1"}},
        secrets={"s": {"k": b"v2"}},
    )
    assert (env["CM"], env["SEC"], env["NAME"], env["NS"]) == ("v1", "v2", "p", "ns")
    assert (env["APP"], env["IP"], env["SA"]) == ("x", "127.0.0.1", "sa")
    assert (env["CPU"], env["MEM"], env["REF"]) == ("500", "1024", "p.ns")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}},
            'secret "nope" not found',
        ),
        (
            {"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "other"}}},
            "couldn't find key other in Secret ns/s",
        ),
        (
            {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "other"}}},
            "couldn't find key other in ConfigMap ns/cm",
        ),
        (
            {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}},
            'configmap "nope" not found',
        ),
    ],
)
def test_missing_sources_are_config_errors(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ContainerConfigError) as caught:
        resolve({"name": "c", "env": [entry]}, config_maps={"cm": {"k": b"v"}}, secrets={"s": {"k": b"v"}})
    assert str(caught.value) == message
    assert caught.value.reason == "CreateContainerConfigError"


def test_optional_missing_sources_are_skipped() -> None:
    env = resolve(
        {
            "name": "c",
            "envFrom": [{"secretRef": {"name": "nope", "optional": True}}],
            "env": [
                {"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}}},
                {
                    "name": "Y",
                    "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "zz", "optional": True}},
                },
            ],
        },
        config_maps={"cm": {}},
    )
    assert "X" not in env and "Y" not in env


def test_envfrom_missing_non_optional_is_an_error() -> None:
    with pytest.raises(ContainerConfigError, match='configmap "cm" not found'):
        resolve({"name": "c", "envFrom": [{"configMapRef": {"name": "cm"}}]})


def test_all_labels_are_rendered_sorted() -> None:
    assert field_value(pod(), "metadata.labels") == 'app="x"\nb="y"'


def test_unsupported_field_path() -> None:
    with pytest.raises(ContainerConfigError, match="unsupported fieldRef"):
        field_value(pod(), "status.phase")
