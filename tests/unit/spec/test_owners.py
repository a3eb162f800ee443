"""The downward-API identity env and the owner reference built from it."""

from __future__ import annotations

from dagster_ext.k8s.spec import merge_layers
from dagster_ext.k8s.spec.manifests import render_run_k8s_job
from dagster_ext.k8s.spec.owners import (
    POD_NAME_ENV,
    POD_NAMESPACE_ENV,
    POD_UID_ENV,
    pod_identity_env,
    pod_owner_reference,
)

ENV = {POD_NAME_ENV: "dagster-run-abc-x1", POD_NAMESPACE_ENV: "dagster", POD_UID_ENV: "1234-uid"}


def test_owner_reference_names_the_current_pod() -> None:
    assert pod_owner_reference(ENV, namespace="dagster") == {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": "dagster-run-abc-x1",
        "uid": "1234-uid",
    }


def test_no_owner_across_namespaces_or_outside_our_pods() -> None:
    assert pod_owner_reference(ENV, namespace="other") is None
    assert pod_owner_reference({}, namespace="dagster") is None
    assert pod_owner_reference({**ENV, POD_UID_ENV: ""}, namespace="dagster") is None


def test_run_pod_carries_the_identity_env() -> None:
    manifest = render_run_k8s_job(
        merge_layers([]), run_id="abc", dagster_job="j", args=["dagster"], image="img"
    ).manifest
    env = manifest["spec"]["template"]["spec"]["containers"][0]["env"]
    by_name = {item["name"]: item for item in env}
    for entry in pod_identity_env():
        assert by_name[entry["name"]] == entry
    assert by_name[POD_UID_ENV]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.uid"
