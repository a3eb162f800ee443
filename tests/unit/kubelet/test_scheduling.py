from __future__ import annotations

from typing import Any

import pytest

from dagster_ext.testing.kubelet.scheduling import evaluate, wants_scheduling

NODE: dict[str, Any] = {
    "metadata": {"name": "n1", "labels": {"kubernetes.io/os": "linux", "tier": "gpu", "rank": "5"}},
    "spec": {},
    "status": {"allocatable": {"cpu": "64", "memory": "16Gi", "pods": "110"}},
}


def pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u"}, "spec": {"containers": [], **spec}}


def affinity(*expressions: dict[str, Any], fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    term: dict[str, Any] = {"matchExpressions": list(expressions)}
    if fields:
        term["matchFields"] = fields
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}


def test_plain_pod_fits() -> None:
    assert evaluate(pod(), NODE).fits


def test_node_selector_mismatch_has_scheduler_message() -> None:
    fit = evaluate(pod(nodeSelector={"tier": "cpu"}), NODE)
    assert not fit.fits
    assert fit.message.startswith(
        "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
    )


@pytest.mark.parametrize(
    ("expression", "fits"),
    [
        ({"key": "tier", "operator": "In", "values": ["gpu", "x"]}, True),
        ({"key": "tier", "operator": "NotIn", "values": ["gpu"]}, False),
        ({"key": "tier", "operator": "Exists"}, True),
        ({"key": "zone", "operator": "DoesNotExist"}, True),
        ({"key": "rank", "operator": "Gt", "values": ["3"]}, True),
        ({"key": "rank", "operator": "Lt", "values": ["3"]}, False),
        ({"key": "zone", "operator": "In", "values": ["a"]}, False),
    ],
)
def test_required_node_affinity(expression: dict[str, Any], fits: bool) -> None:
    assert evaluate(pod(affinity=affinity(expression)), NODE).fits is fits


def test_match_fields_on_node_name() -> None:
    field = {"key": "metadata.name", "operator": "In", "values": ["n1"]}
    assert evaluate(pod(affinity=affinity(fields=[field])), NODE).fits
    other = {**field, "values": ["n2"]}
    assert not evaluate(pod(affinity=affinity(fields=[other])), NODE).fits


def test_taints_need_tolerations() -> None:
    tainted = {**NODE, "spec": {"taints": [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]}}
    assert not evaluate(pod(), tainted).fits
    assert "untolerated taint {dedicated: x}" in evaluate(pod(), tainted).message
    tolerated = pod(tolerations=[{"key": "dedicated", "operator": "Equal", "value": "x"}])
    assert evaluate(tolerated, tainted).fits
    assert evaluate(pod(tolerations=[{"operator": "Exists"}]), tainted).fits


def test_insufficient_resources() -> None:
    big = pod(containers=[{"name": "c", "resources": {"requests": {"memory": "32Gi", "cpu": "1"}}}])
    fit = evaluate(big, NODE)
    assert not fit.fits and "1 Insufficient memory." in fit.message


def test_wants_scheduling() -> None:
    assert wants_scheduling(pod())
    assert not wants_scheduling(pod(nodeName="n1"))
    assert not wants_scheduling(pod(schedulerName="other"))
    deleting = pod()
    deleting["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert not wants_scheduling(deleting)
