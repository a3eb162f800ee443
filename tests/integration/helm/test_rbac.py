"""The shipped Role grants exactly what the gateway calls, and no Secrets.

The calls are read from dagster_ext/k8s/client (the only code that calls the Kubernetes API), so a
new call without a Role change fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_ext.testing.helm_chart import find_object
from dagster_ext.testing.k8s_api_calls import Permission, granted, missing, required_permissions

from .conftest import REPO_ROOT, Render

pytestmark = pytest.mark.timeout(120)

GATEWAY = REPO_ROOT / "dagster_ext" / "k8s" / "client"
NODES = Permission("", "nodes", "list")


def _rules(objects: list[dict], kind: str) -> list[dict]:
    return [rule for o in objects if o["kind"] == kind for rule in o["rules"]]


def test_the_calls_are_found_in_the_gateway() -> None:
    """The derivation itself: the calls we know the gateway makes are all there."""
    required = required_permissions(GATEWAY)
    assert {
        Permission("batch", "jobs", "create"),
        Permission("batch", "jobs", "watch"),
        Permission("batch", "jobs", "deletecollection"),
        Permission("", "pods/log", "get"),
        Permission("", "events", "watch"),
        NODES,
    } <= set(required)


def test_the_role_covers_every_namespaced_call(render_ours: Render) -> None:
    objects = render_ours()
    namespaced = {p: m for p, m in required_permissions(GATEWAY).items() if p != NODES}
    gaps = missing(namespaced, _rules(objects, "Role"))
    assert not gaps, "calls the Role does not allow: " + "; ".join(
        f"{p} by {sorted(namespaced[p])}" for p in gaps
    )


def test_the_role_grants_nothing_else(render_ours: Render) -> None:
    role = granted(_rules(render_ours(), "Role"))
    assert role == set(required_permissions(GATEWAY)) - {NODES}


def test_listing_nodes_is_an_optional_cluster_role(render_ours: Render) -> None:
    assert not [o for o in render_ours() if o["kind"].startswith("Cluster")]
    objects = render_ours(set_values={"rbac.listNodes": True})
    assert granted(_rules(objects, "ClusterRole")) == {NODES}
    binding = find_object(objects, "ClusterRoleBinding", "-nodes")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "dagster-ext", "namespace": "data"}]


def test_no_secrets_and_no_wildcards(render_ours: Render) -> None:
    objects = render_ours(set_values={"rbac.listNodes": True})
    for rule in _rules(objects, "Role") + _rules(objects, "ClusterRole"):
        assert "secrets" not in rule["resources"], rule
        assert "*" not in rule["resources"] + rule["verbs"] + rule["apiGroups"], rule


def test_a_missing_verb_is_reported(render_ours: Render) -> None:
    """The check can fail: drop one verb from the rendered Role and it names the call."""
    rules = _rules(render_ours(), "Role")
    jobs = next(r for r in rules if r["resources"] == ["jobs"])
    jobs["verbs"] = [v for v in jobs["verbs"] if v != "deletecollection"]
    assert missing(required_permissions(GATEWAY), rules) == [
        NODES,
        Permission("batch", "jobs", "deletecollection"),
    ]


def test_a_new_call_is_derived(tmp_path: Path) -> None:
    """A gateway module with a call the Role lacks is caught, with its module."""
    (tmp_path / "patching.py").write_text(
        "def patch(core, name, ns):\n    return core.patch_namespaced_config_map(name, ns, {})\n"
    )
    assert required_permissions(tmp_path) == {Permission("", "configmaps", "patch"): {"patching.py"}}
