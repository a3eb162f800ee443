"""Properties of the pod-spec model (hypothesis)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagster_ext.k8s.spec import (
    Component,
    K8sConfig,
    Layer,
    external_k8s_job_name,
    identity_labels,
    is_dns1123_label,
    is_label_value,
    merge_configs,
    merge_layers,
    parse_k8s_config,
    render_step_k8s_job,
    run_k8s_job_name,
    sanitize_label_value,
    step_k8s_job_name,
)
from dagster_ext.k8s.spec._k8s_schema import MODELS
from dagster_ext.k8s.spec.annotate import annotated_yaml
from dagster_ext.k8s.spec.config import JOB_SECTIONS
from dagster_ext.k8s.spec.labels import label_key_problem
from dagster_ext.k8s.spec.merging import REPLACED_LISTS, item_path, join
from dagster_ext.k8s.spec.schema import resolve_field

from .k8s_strategies import MOUNTED_VOLUMES, any_configs, deep_configs  # type: ignore[import-not-found]

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(any_configs)
def test_merging_with_an_empty_layer_is_the_identity(config: K8sConfig) -> None:
    assert merge_configs(config, K8sConfig()) == config
    assert merge_configs(K8sConfig(), config) == config


@PROPERTY_SETTINGS
@given(any_configs, any_configs)
def test_an_empty_layer_anywhere_changes_neither_config_nor_provenance(
    low: K8sConfig, high: K8sConfig
) -> None:
    plain = merge_layers([Layer("low", low), Layer("high", high)])
    padded = merge_layers([Layer("e1"), Layer("low", low), Layer("e2"), Layer("high", high), Layer("e3")])
    assert (padded.config, dict(padded.provenance)) == (plain.config, dict(plain.provenance))


@PROPERTY_SETTINGS
@given(deep_configs, deep_configs, deep_configs)
def test_deep_merge_is_associative(a: K8sConfig, b: K8sConfig, c: K8sConfig) -> None:
    assert merge_configs(merge_configs(a, b), c) == merge_configs(a, merge_configs(b, c))


def respell(value: Any, model: str, pick_snake: Callable[[], bool]) -> Any:
    """The same config with each field name spelled in a randomly chosen case."""
    if not isinstance(value, dict) or model not in MODELS:  # scalars and maps (labels) stay as they are
        return value
    result = {}
    for key, item in value.items():
        resolved = resolve_field(model, key)
        assert resolved is not None
        snake, camel, openapi_type = resolved
        inner = openapi_type.removeprefix("list[").removesuffix("]")
        if isinstance(item, list):
            respelled = [respell(element, inner, pick_snake) for element in item]
        else:
            respelled = respell(item, openapi_type, pick_snake)
        result[snake if pick_snake() else camel] = respelled
    return result


@PROPERTY_SETTINGS
@given(any_configs, st.data())
def test_camel_and_snake_case_give_the_same_result(config: K8sConfig, data: st.DataObject) -> None:
    tag = config.to_dict()
    mixed = {
        name: respell(section, JOB_SECTIONS[name], lambda: data.draw(st.booleans()))
        if name in JOB_SECTIONS
        else section
        for name, section in tag.items()
    }
    assert parse_k8s_config(mixed) == config
    assert parse_k8s_config(config.to_dict(style="snake")) == config


attempts = st.integers(min_value=0, max_value=10**70)


@PROPERTY_SETTINGS
@given(st.text(), st.text(), attempts)
def test_job_names_are_always_valid_dns_labels(run_id: str, step_key: str, attempt: int) -> None:
    for name in (
        run_k8s_job_name(run_id, resume_attempt=attempt),
        step_k8s_job_name(run_id, step_key, attempt=attempt),
        external_k8s_job_name(run_id, step_key, attempt=attempt, sequence=attempt % 7),
    ):
        assert is_dns1123_label(name), name
        assert len(name) <= 63


@PROPERTY_SETTINGS
@given(st.uuids(), st.integers(0, 50))
def test_uuid_run_ids_keep_dagster_k8s_run_names(run_id: Any, attempt: int) -> None:
    suffix = f"-{attempt}" if attempt else ""
    assert run_k8s_job_name(str(run_id), resume_attempt=attempt) == f"dagster-run-{run_id}{suffix}"


asset_keys = st.lists(st.text(min_size=1), min_size=1, max_size=4).map("/".join)


@PROPERTY_SETTINGS
@given(st.text(), st.text(), st.one_of(st.text(), asset_keys), st.text())
def test_identity_labels_are_always_valid(run_id: str, job: str, op: str, location: str) -> None:
    labels = identity_labels(
        component=Component.STEP_WORKER, run_id=run_id, dagster_job=job, op=op, code_location=location
    )
    for key, value in labels.items():
        assert label_key_problem(key) is None
        assert is_label_value(value), (key, value)


@PROPERTY_SETTINGS
@given(st.text())
def test_sanitising_keeps_valid_values_unchanged(value: str) -> None:
    sanitised = sanitize_label_value(value)
    assert is_label_value(sanitised)
    if is_label_value(value):
        assert sanitised == value


def leaf_paths(value: Any, path: str = "", key: str | None = None) -> set[str]:
    if isinstance(value, dict) and value:
        return set().union(*(leaf_paths(item, join(path, k), k) for k, item in value.items()))
    if isinstance(value, list) and value and key not in REPLACED_LISTS:
        return set().union(*(leaf_paths(item, item_path(path, key, item, i)) for i, item in enumerate(value)))
    return {path}


@PROPERTY_SETTINGS
@given(st.lists(any_configs, max_size=4), st.text(), st.text(), st.one_of(st.text(), asset_keys))
def test_rendered_step_jobs_are_valid_explained_and_round_trip(
    configs: list[K8sConfig], run_id: str, job: str, step_key: str
) -> None:
    volumes = parse_k8s_config({"pod_spec_config": {"volumes": [{"name": n} for n in MOUNTED_VOLUMES]}})
    # last, so that no SHALLOW layer drops the volumes the generated mounts refer to
    merged = merge_layers(
        [*(Layer(f"layer{i}", c) for i, c in enumerate(configs)), Layer("volumes", volumes)]
    )
    rendered = render_step_k8s_job(
        merged, run_id=run_id, dagster_job=job, step_key=step_key, compressed_step_args="x", image="img"
    )
    manifest = rendered.manifest
    assert is_dns1123_label(manifest["metadata"]["name"])
    for labels in (manifest["metadata"]["labels"], manifest["spec"]["template"]["metadata"]["labels"]):
        assert all(is_label_value(value) for value in labels.values())
    assert leaf_paths(manifest) == set(rendered.provenance)
    assert yaml.safe_load(annotated_yaml(manifest, rendered.provenance)) == manifest
