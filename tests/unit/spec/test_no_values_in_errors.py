"""Error messages name the key path and the expected type or shape, never a configuration value:
any string of a config may be a secret. Secret-looking values are fed to every field of every
section (through the type, enum, name, quantity, label, range and one-of checks), to the
shorthand keys of every source, the tag decoders, the renderer and the k8s_job call config."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from dagster_ext.cli.render import _load_yaml
from dagster_ext.errors import ConfigError
from dagster_ext.k8s.k8s_job.config import parse_k8s_job_call
from dagster_ext.k8s.spec import (
    Layer,
    build_step_layers,
    k8s_config_from_tags,
    merge_layers,
    parse_container_context,
    parse_executor_config,
    parse_k8s_config,
    parse_launcher_config,
    render_external_k8s_job,
    render_step_k8s_job,
)
from dagster_ext.k8s.spec._k8s_schema import MODELS
from dagster_ext.k8s.spec.config import JOB_SECTIONS
from dagster_ext.k8s.spec.context import CONTAINER_CONTEXT_KEYS

TOKEN = "hunter2"
# each fails a different check: not a name, not a quantity, not an enum value, not a label value,
# not an env var name, not JSON; the lower-case one is a valid name that refers to nothing
SECRETS = [f"S3cr3t {TOKEN}!", f"PASSWORD={TOKEN}", f"-{TOKEN}-", f"{TOKEN}\x00", f"{TOKEN}" * 40, TOKEN]
_LIST_RE = re.compile(r"^list\[(.+)\]\Z")
_DICT_RE = re.compile(r"^dict\[str, (.+)\]\Z")


def placements(model: str, depth: int) -> Iterator[Placement]:
    """Functions putting a value at every field of `model` (nested objects up to `depth`)."""
    for _snake, (camel, openapi_type) in MODELS[model].items():
        yield from _wrapped(camel, openapi_type, depth)


Placement = Callable[[Any], dict[str, Any]]


def _field(camel: str, wrap: Callable[[Any], Any], place: Callable[[Any], Any]) -> Placement:
    def put(value: Any) -> dict[str, Any]:
        return {camel: wrap(place(value))}

    return put


def _same(value: Any) -> Any:
    return value


def _in_list(value: Any) -> Any:
    return [value]


def _in_map(value: Any) -> Any:
    return {"key": value}


def _wrapped(camel: str, openapi_type: str, depth: int) -> Iterator[Placement]:
    yield _field(camel, _same, _same)
    inner, wrap = openapi_type, _same
    if match := _LIST_RE.match(openapi_type):
        inner, wrap = match.group(1), _in_list
    elif match := _DICT_RE.match(openapi_type):
        inner, wrap = match.group(1), _in_map
    if inner != openapi_type:
        yield _field(camel, wrap, _same)
    if inner in MODELS and depth > 0:
        for place in placements(inner, depth - 1):
            yield _field(camel, wrap, place)


def message_of(parse: Callable[[], object]) -> str | None:
    try:
        parse()
    except ConfigError as err:
        return str(err)
    return None


def assert_no_secret(parse: Callable[[], object], where: str) -> bool:
    message = message_of(parse)
    assert message is None or TOKEN not in message, f"{where}: {message}"
    return message is not None


def test_no_field_of_any_section_echoes_a_value() -> None:
    errors = 0
    for section, model in JOB_SECTIONS.items():
        for place in placements(model, depth=2):
            for secret in SECRETS:
                config = {section: place(secret)}
                errors += assert_no_secret(partial(parse_k8s_config, config), repr(config)[:200])
    assert errors > 5000  # the values really went through error paths


SHORTHAND_VALUES = [*SECRETS, [*SECRETS], {"k": SECRETS[0]}, [{"name": SECRETS[0]}], 12]


@pytest.mark.parametrize("key", sorted(CONTAINER_CONTEXT_KEYS))
def test_no_shorthand_key_echoes_a_value(key: str) -> None:
    for value in SHORTHAND_VALUES:
        for parse in (
            lambda value=value: parse_launcher_config({key: value, "job_namespace": "d"}, environ={}),
            lambda value=value: parse_container_context({"k8s": {key: value}}, environ={}),
            lambda value=value: parse_executor_config({key: value}, environ={}),
            lambda value=value: parse_k8s_job_call(
                {key: value, "image": "i"}, path="ops.x.config", environ={}
            ),
        ):
            assert_no_secret(parse, f"{key}={value!r}"[:200])


@pytest.mark.parametrize(
    "parse",
    [
        lambda: parse_launcher_config({"job_namespace": SECRETS[0]}),
        lambda: parse_launcher_config({"job_namespace": "d", "job_image": 5, "dagster_home": [TOKEN]}),
        lambda: parse_launcher_config(
            {"job_namespace": "d", "env_vars": [f"={TOKEN}", f"A={TOKEN}", f"A={TOKEN}"]}
        ),
        lambda: parse_launcher_config({"job_namespace": "d", "env_vars": [TOKEN.upper()]}, environ={}),
        lambda: parse_container_context(f'{{"k8s": "{TOKEN}'),
        lambda: parse_container_context({"env_vars": [f"A={TOKEN}", f"A={TOKEN}"]}),
        lambda: parse_executor_config(
            {"per_step_k8s_config": {"op": {"container_config": {"image": [TOKEN]}}}}
        ),
        lambda: parse_executor_config({"per_step_k8s_config": TOKEN}),
        lambda: k8s_config_from_tags({"dagster-k8s/config": f'{{"container_config": "{TOKEN}'}),
        lambda: k8s_config_from_tags(
            {"dagster-k8s/resource_requirements": json.dumps({"limits": {"cpu": TOKEN}})}
        ),
        lambda: parse_k8s_config({"merge_behavior": TOKEN}),
        lambda: parse_k8s_config({"pod_spec_config": {"nodeSelector": {"a": SECRETS[0]}}}),
        lambda: parse_k8s_config({"job_metadata": {"annotations": {"a": [TOKEN]}}}),
        lambda: parse_k8s_config(TOKEN),
        lambda: parse_k8s_config([TOKEN]),
        lambda: parse_k8s_job_call(
            {"image": "i", "k8s_job_name": SECRETS[0], "namespace": SECRETS[0]}, path="p", environ={}
        ),
        lambda: parse_k8s_job_call({"image": [TOKEN], "args": TOKEN, "timeout": TOKEN}, path="p", environ={}),
        lambda: _load_yaml(f"a: {TOKEN}\n\tb: [{TOKEN}", where="--executor-config"),
        lambda: render_external_k8s_job(
            merge_layers([]), run_id="r", dagster_job="j", step_key="s", name=SECRETS[0]
        ),
    ],
)
def test_no_other_error_path_echoes_a_value(parse: Callable[[], object]) -> None:
    assert message_of(parse) is not None
    assert_no_secret(parse, "")


def test_render_time_errors_name_paths_and_layers_only() -> None:
    layers = build_step_layers(
        executor_config={
            "step_k8s_config": {
                "container_config": {
                    "volumeMounts": [{"name": TOKEN, "mountPath": f"/{TOKEN}"}],
                    "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}},
                },
                "pod_spec_config": {"containers": [{"name": TOKEN}, {"name": TOKEN + "x"}]},
                "job_spec_config": {"completionMode": "Indexed", "parallelism": 2},
            }
        },
    )
    merged = merge_layers([*layers, Layer("more", parse_k8s_config({}))])
    for render in (
        lambda: render_step_k8s_job(
            merged, run_id="r", dagster_job="j", step_key="s", compressed_step_args="a"
        ),
        lambda: render_step_k8s_job(
            merged, run_id="r", dagster_job="j", step_key="s", compressed_step_args="a", image="i"
        ),
    ):
        assert message_of(render) is not None
        assert_no_secret(render, "render")
