"""Named lists: the highest layer's item wins whatever the lower layers repeat, a list naming one
item twice is rejected when parsed, and Dagster's own env vars always win (examples and
hypothesis properties over random layer stacks)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagster_ext.errors import ConfigError
from dagster_ext.k8s.spec import (
    K8sConfig,
    Layer,
    MergeBehavior,
    merge_layers,
    parse_container_context,
    parse_k8s_config,
    parse_launcher_config,
    render_step_k8s_job,
)

TAG = "dagster-k8s/config"
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SYSTEM_ENV = ("DAGSTER_COMPRESSED_EXECUTE_STEP_ARGS", "DAGSTER_RUN_JOB_NAME", "DAGSTER_RUN_STEP_KEY")


def effective_env(env: list[dict[str, Any]]) -> dict[str, Any]:
    """What the container sees: Kubernetes applies the last of repeated names."""
    return {item["name"]: item.get("value") for item in env}


def main_env(layers: list[Layer]) -> list[dict[str, Any]]:
    rendered = render_step_k8s_job(
        merge_layers(layers),
        run_id="r",
        dagster_job="j",
        step_key="s",
        compressed_step_args="ARGS",
        image="i",
    )
    env: list[dict[str, Any]] = rendered.manifest["spec"]["template"]["spec"]["containers"][0]["env"]
    return env


@pytest.mark.parametrize(
    ("section", "field", "items"),
    [
        ("container_config", "env", [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]),
        (
            "container_config",
            "volumeMounts",
            [{"name": "a", "mountPath": "/d"}, {"name": "b", "mountPath": "/d"}],
        ),
        ("container_config", "ports", [{"containerPort": 80}, {"containerPort": 80, "name": "web"}]),
        ("pod_spec_config", "volumes", [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]),
        ("pod_spec_config", "containers", [{"name": "c", "image": "x"}, {"name": "c", "image": "y"}]),
    ],
)
def test_a_list_naming_one_item_twice_is_rejected_with_the_key_path(
    section: str, field: str, items: list[dict[str, Any]]
) -> None:
    with pytest.raises(ConfigError) as err:
        parse_k8s_config({section: {field: items}})
    assert err.value.path == f"{TAG}.{section}.{field}[1]"
    assert "item [0]" in str(err.value)


def test_duplicate_mount_paths_of_a_sidecar_are_rejected() -> None:
    mounts = [{"name": "a", "mountPath": "/d"}, {"name": "b", "mountPath": "/d"}]
    with pytest.raises(ConfigError) as err:
        parse_k8s_config({"pod_spec_config": {"containers": [{"name": "c", "volumeMounts": mounts}]}})
    assert err.value.path == f"{TAG}.pod_spec_config.containers[0].volumeMounts[1]"


def test_null_where_a_name_is_required_is_rejected() -> None:
    with pytest.raises(ConfigError) as err:
        parse_k8s_config({"container_config": {"env": [{"name": None, "value": "x"}]}})
    assert err.value.path == f"{TAG}.container_config.env[0].name"
    assert "must not be null" in str(err.value)


def test_env_vars_naming_one_variable_twice_are_rejected() -> None:
    with pytest.raises(ConfigError) as err:
        parse_launcher_config({"job_namespace": "d", "env_vars": ["A=1", "A=2"]})
    assert err.value.path == "run_launcher.config.env_vars[1]"


def test_shorthand_keys_of_one_source_are_sub_layers_later_keys_winning() -> None:
    source = parse_launcher_config(
        {
            "job_namespace": "d",
            "dagster_home": "/home",
            "env_vars": ["DAGSTER_HOME=/mine", "B=1"],
            "env": [{"name": "B", "value": "2"}],
        }
    )
    assert source.k8s_config.container_config["env"] == [
        {"name": "DAGSTER_HOME", "value": "/mine"},
        {"name": "B", "value": "2"},
    ]


def test_the_container_contexts_k8s_env_vars_beat_its_shared_env_vars() -> None:
    source = parse_container_context({"env_vars": ["A=shared", "B=shared"], "k8s": {"env_vars": ["A=k8s"]}})
    assert effective_env(list(source.k8s_config.container_config["env"])) == {"A": "k8s", "B": "shared"}
    with pytest.raises(ConfigError) as err:
        parse_container_context({"env_vars": ["A=1", "A=2"]})
    assert err.value.path == "container_context.env_vars[1]"


def test_an_upper_layer_replaces_every_repeat_of_a_lower_layer() -> None:
    # An unparsed K8sConfig can repeat a name; the upper layer's value must still be the one applied.
    low = K8sConfig(container_config={"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]})
    high = parse_k8s_config({"container_config": {"env": [{"name": "A", "value": "3"}]}})
    env = main_env([Layer("low", low), Layer("high", high)])
    assert [item for item in env if item["name"] == "A"] == [{"name": "A", "value": "3"}]


def test_dagster_env_vars_win_over_a_user_layer_listing_them_twice() -> None:
    twice = [
        {"name": "DAGSTER_RUN_STEP_KEY", "value": "mine"},
        {"name": "DAGSTER_RUN_STEP_KEY", "value": "again"},
    ]
    env = main_env([Layer("op_tags", K8sConfig(container_config={"env": twice}))])
    assert [item for item in env if item["name"] == "DAGSTER_RUN_STEP_KEY"] == [
        {"name": "DAGSTER_RUN_STEP_KEY", "value": "s"}
    ]


names = st.sampled_from(["A", "B", "C", "D", *SYSTEM_ENV])
values = st.text(alphabet="xyz0123", max_size=3)
env_lists = st.lists(st.tuples(names, values), max_size=5)
stacks = st.lists(st.tuples(env_lists, st.sampled_from(list(MergeBehavior)), st.booleans()), max_size=5)


def stack_layers(stack: list[tuple[list[tuple[str, str]], MergeBehavior, bool]]) -> list[Layer]:
    """Parsed layers get unique names (parsing rejects repeats); unparsed ones keep repeats."""
    layers = []
    for index, (pairs, behavior, parsed) in enumerate(stack):
        env = [{"name": name, "value": value} for name, value in pairs]
        if parsed:
            unique = list({item["name"]: item for item in env}.values())
            config = parse_k8s_config({"container_config": {"env": unique}, "merge_behavior": behavior.value})
        else:
            config = K8sConfig(container_config={"env": env} if env else {}, merge_behavior=behavior)
        layers.append(Layer(f"layer{index}", config))
    return layers


def expected_env(layers: list[Layer]) -> dict[str, Any]:
    """Independent model: per name, the highest layer's value (a layer's last repeat);
    a SHALLOW layer that sets `env` drops what the layers below it set."""
    result: dict[str, Any] = {}
    for layer in layers:
        env = layer.config.container_config.get("env")
        if env is None:
            continue
        if layer.config.merge_behavior is MergeBehavior.SHALLOW:
            result = {}
        result.update(effective_env(list(env)))  # an empty SHALLOW `env` clears it
    return result


@SETTINGS
@given(stacks)
def test_effective_env_is_the_highest_layers_value_per_name(stack: Any) -> None:
    layers = stack_layers(stack)
    env = list(merge_layers(layers).config.container_config.get("env") or [])
    assert effective_env(env) == expected_env(layers)
    assert len({item["name"] for item in env}) == len(env)  # each name once


@SETTINGS
@given(stacks)
def test_dagster_env_vars_are_never_overridden(stack: Any) -> None:
    layers = stack_layers(stack)
    env = main_env(layers)
    effective = effective_env(env)
    assert {name: effective[name] for name in SYSTEM_ENV} == {
        "DAGSTER_COMPRESSED_EXECUTE_STEP_ARGS": "ARGS",
        "DAGSTER_RUN_JOB_NAME": "j",
        "DAGSTER_RUN_STEP_KEY": "s",
    }
    assert len({item["name"] for item in env}) == len(env)
    users = {name: value for name, value in expected_env(layers).items() if name not in SYSTEM_ENV}
    assert {name: effective[name] for name in users} == users


def test_a_repeated_reference_is_collapsed_not_rejected() -> None:
    ref = {"secretRef": {"name": "s"}}
    config = parse_k8s_config(
        {
            "container_config": {"envFrom": [ref, ref]},
            "pod_spec_config": {"imagePullSecrets": [{"name": "r"}] * 2},
        }
    )
    merged = merge_layers([Layer("op_tags", config)]).config
    assert merged.container_config["envFrom"] == [ref]
    assert merged.pod_spec_config["imagePullSecrets"] == [{"name": "r"}]
