"""The diagnosis of pod/Job/Event objects shaped like real clusters' (one YAML file per case, each
naming its source): reason, category, retryable flag and the key words of the summary."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from dagster_ext.k8s.status import FailureReason, K8sJobState, NodeCapacity, diagnose

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(CORPUS.glob("*.yaml"))


def _load(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()))


def test_the_corpus_is_large_and_every_case_names_its_source() -> None:
    assert len(CASES) >= 50
    for path in CASES:
        case = _load(path)
        assert str(case.get("source") or "").strip(), f"{path.name}: no source"
        expect = case.get("expect") or {}
        assert expect.get("state"), f"{path.name}: no expected state"
        if expect.get("reason"):
            assert expect.get("category") and expect.get("summary"), f"{path.name}: category, summary words"


def test_every_failure_reason_has_a_case() -> None:
    seen = {_load(path)["expect"].get("reason") for path in CASES}
    assert {reason.value for reason in FailureReason} - seen == set()


@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_case(path: Path) -> None:
    case = _load(path)
    expect = case["expect"]
    found = diagnose(
        k8s_job=case.get("k8s_job"),
        pods=case.get("pods") or [],
        events=case.get("events") or [],
        now=datetime.fromisoformat(str(case["now"]).replace("Z", "+00:00")),
        capacity=NodeCapacity.from_nodes(case["nodes"]) if "nodes" in case else None,
    )
    assert found.state is K8sJobState(expect["state"]), found
    assert (found.reason.value if found.reason else None) == expect.get("reason"), found
    if "category" in expect:
        assert found.category is not None and found.category.value == expect["category"]
    if "retryable" in expect:
        assert found.retryable is expect["retryable"]
    if "container" in expect:
        assert found.container == expect["container"]
    if "exit_code" in expect:
        assert found.exit_code == expect["exit_code"]
    headline = found.headline()
    assert "\n" not in headline
    for words in expect.get("summary") or ():
        assert words in headline, f"{words!r} not in {headline!r}"
    if found.failed:
        assert found.reason is not None and found.hint
