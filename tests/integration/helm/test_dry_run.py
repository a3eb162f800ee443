"""Every object the charts render is accepted by a real API server (server-side dry run).

Schema validation checks the values; the API server checks the rendered objects themselves
(field names, types, names, defaults), without creating anything.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from dagster_ext.testing.pytest_plugin import K8sCluster

from .conftest import SHAPES, Render

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


def _dry_run(cluster: K8sCluster, namespace: str, objects: list[dict[str, Any]]) -> list[str]:
    """Create each object with dryRun=All and strict field validation (an unknown or duplicate
    field is an error, not a warning); returns `kind/name` of every accepted object."""
    from kubernetes.dynamic import DynamicClient

    api_client = cluster.api_client()
    discovery = DynamicClient(api_client)
    accepted = []
    for obj in objects:
        resource = discovery.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        path = resource.path(namespace=namespace) if resource.namespaced else resource.path()
        response = api_client.call_api(
            path,
            "POST",
            query_params=[("dryRun", "All"), ("fieldValidation", "Strict")],
            header_params={"Content-Type": "application/json", "Accept": "application/json"},
            body=obj,
            auth_settings=["BearerToken"],
            _preload_content=False,
        )
        created = json.loads(response.data)
        accepted.append(f"{created['kind']}/{created['metadata']['name']}")
    return accepted


def test_the_dry_run_rejects_an_unknown_field(k8s_cluster: K8sCluster, k8s_namespace: str) -> None:
    """The check can fail: a misspelt field of a rendered object is refused."""
    from kubernetes.client.exceptions import ApiException

    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "dataa": {"k": "v"}}
    with pytest.raises(ApiException) as raised:
        _dry_run(k8s_cluster, k8s_namespace, [bad])
    assert raised.value.status == 400 and "dataa" in str(raised.value.body)


@pytest.mark.parametrize("shape", SHAPES)
def test_every_rendered_object_passes_server_side_dry_run(
    k8s_cluster: K8sCluster, k8s_namespace: str, render_dagster: Render, render_ours: Render, shape: str
) -> None:
    official = render_dagster(shape, namespace=k8s_namespace)
    ours = render_ours(
        namespace=k8s_namespace,
        set_values={"celery.enabled": shape == "celery", "rbac.listNodes": True},
    )
    objects = official + ours
    accepted = _dry_run(k8s_cluster, k8s_namespace, objects)
    assert len(accepted) == len(objects)
    kinds = {name.split("/")[0] for name in accepted}
    assert {"Deployment", "ConfigMap", "Secret", "ServiceAccount", "Role", "RoleBinding"} <= kinds
    if shape == "celery":
        assert any(name.endswith("-celery-default") for name in accepted), accepted
    # A dry run leaves nothing behind.
    assert not k8s_cluster.core_v1.list_namespaced_config_map(
        k8s_namespace, label_selector="app=dagster"
    ).items
