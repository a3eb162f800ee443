"""Input beyond the nesting-depth and size limits is a ConfigError naming where it came from,
never a RecursionError, whichever entry point it comes through."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from dagster_ext.cli.render import _load_yaml
from dagster_ext.errors import ConfigError
from dagster_ext.k8s.k8s_job.config import parse_k8s_job_call
from dagster_ext.k8s.spec import (
    k8s_config_from_tags,
    parse_container_context,
    parse_executor_config,
    parse_k8s_config,
    parse_launcher_config,
)
from dagster_ext.k8s.spec.bounds import MAX_DEPTH, MAX_DOCUMENT_BYTES

VERY_DEEP = 20_000  # far beyond the interpreter's recursion limit


def nested(depth: int, leaf: Any = "x") -> Any:
    """Built without recursion: {"a": {"a": ... leaf}}."""
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


DEEP_JSON = '{"a": ' * VERY_DEEP + "1" + "}" * VERY_DEEP

ENTRY_POINTS: list[tuple[Callable[[], object], str]] = [
    (lambda: parse_k8s_config("[" * VERY_DEEP), "dagster-k8s/config"),
    (lambda: parse_k8s_config(DEEP_JSON), "dagster-k8s/config"),
    (lambda: parse_k8s_config(nested(VERY_DEEP)), "dagster-k8s/config"),
    (lambda: parse_k8s_config({"job_metadata": {"annotations": nested(VERY_DEEP)}}), "dagster-k8s/config"),
    (lambda: k8s_config_from_tags({"dagster-k8s/config": DEEP_JSON}), "dagster-k8s/config"),
    (
        lambda: k8s_config_from_tags({"dagster-k8s/resource_requirements": DEEP_JSON}),
        "dagster-k8s/resource_requirements",
    ),
    (lambda: parse_container_context(DEEP_JSON), "container_context"),
    (lambda: parse_container_context({"k8s": nested(VERY_DEEP)}), "container_context"),
    (
        lambda: parse_launcher_config({"job_namespace": "d", "labels": nested(VERY_DEEP)}),
        "run_launcher.config",
    ),
    (lambda: parse_executor_config({"step_k8s_config": nested(VERY_DEEP)}), "execution.config"),
    (
        lambda: parse_k8s_job_call(
            {"image": "i", "labels": nested(VERY_DEEP)}, path="ops.x.config", environ={}
        ),
        "ops.x.config",
    ),
    (lambda: _load_yaml("[" * VERY_DEEP + "]" * VERY_DEEP, where="--executor-config"), "--executor-config"),
    (lambda: _load_yaml("a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), where="f.yaml"), "f.yaml"),
]


@pytest.mark.parametrize(
    ("parse", "path"), ENTRY_POINTS, ids=[f"{i}-{p}" for i, (_, p) in enumerate(ENTRY_POINTS)]
)
def test_deep_input_is_a_config_error_at_the_source(parse: Callable[[], object], path: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse()
    assert err.value.path == path
    assert f"deeper than {MAX_DEPTH} levels" in str(err.value)


def test_just_within_the_depth_limit_is_parsed() -> None:
    annotations = {"a": json.dumps(nested(MAX_DEPTH * 3))}  # brackets inside a string do not count
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}]}]
            }
        }
    }
    job_config = {
        "spec": {
            "template": {
                "metadata": {"annotations": annotations},
                "spec": {"affinity": affinity, "containers": []},
            }
        }
    }
    config = parse_k8s_config(json.dumps({"job_config": job_config}))
    assert config.job_config["spec"]["template"]["spec"]["affinity"] == affinity
    with pytest.raises(ConfigError, match="deeper than"):
        parse_k8s_config({"job_metadata": {"annotations": nested(MAX_DEPTH)}})


@pytest.mark.parametrize(
    "value",
    [
        json.dumps({"container_config": {"args": ["x" * (MAX_DOCUMENT_BYTES + 1)]}}),
        {"container_config": {"args": ["x" * 1024] * (MAX_DOCUMENT_BYTES // 1024 + 1)}},
    ],
    ids=["json", "dict"],
)
def test_documents_beyond_the_size_limit_are_rejected(value: object) -> None:
    with pytest.raises(ConfigError, match="larger than 1024 KiB") as err:
        parse_k8s_config(value)
    assert err.value.path == "dagster-k8s/config"
