"""Our parsing and merging against dagster-k8s's own, on the same inputs.

Results are equal except for the deliberate differences listed in docs/compat.md; each of
those has its own test below that shows the difference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from dagster._core.storage.dagster_run import DagsterRun
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import (
    DagsterK8sJobConfig,
    UserDefinedDagsterK8sConfig,
    construct_dagster_k8s_job,
    get_user_defined_k8s_config,
)
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from kubernetes.client import ApiClient

from dagster_ext.k8s.spec import (
    K8sConfig,
    Layer,
    build_step_layers,
    k8s_config_from_tags,
    merge_configs,
    merge_layers,
    parse_container_context,
    parse_k8s_config,
    parse_launcher_config,
    render_run_k8s_job,
)
from dagster_ext.k8s.spec.config import JOB_SECTIONS
from dagster_ext.k8s.spec.merging import NAMED_LISTS
from dagster_ext.k8s.spec.owners import pod_identity_env
from dagster_ext.k8s.spec.schema import convert_keys

from .k8s_strategies import any_configs  # type: ignore[import-not-found]

TAG = "dagster-k8s/config"
RUN_ID = "aaa0b6f8-b717-4aef-a4aa-4e1c590b960f"
SNAKE_NAMED_LISTS = {
    "env": "name",
    "volumes": "name",
    "image_pull_secrets": "name",
    "containers": "name",
    "init_containers": "name",
    "volume_mounts": "mount_path",
}


def theirs(config: K8sConfig) -> UserDefinedDagsterK8sConfig:
    return UserDefinedDagsterK8sConfig.from_dict(config.to_dict(style="snake"))


def sections_of(value: UserDefinedDagsterK8sConfig | K8sConfig) -> dict[str, Any]:
    """The job sections in snake_case, as dagster-k8s spells them."""
    raw = value.to_dict() if isinstance(value, UserDefinedDagsterK8sConfig) else value.to_dict(style="snake")
    return {name: dict(raw[name]) for name in JOB_SECTIONS}


def effective(value: Any) -> Any:
    """What the API server makes of duplicated named items: the last one wins (we merge them
    in place). Used to compare dagster-k8s's concatenated lists with our keyed merge.
    """
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            collapsed = (
                _collapse(item, SNAKE_NAMED_LISTS[key])
                if isinstance(item, list) and key in SNAKE_NAMED_LISTS
                else item
            )
            result[key] = effective(collapsed)
        return result
    if isinstance(value, list):
        return [effective(item) for item in value]
    return value


def _collapse(items: list[Any], key: str) -> list[Any]:
    order: list[Any] = []
    last: dict[Any, Any] = {}
    for item in items:
        identity = item.get(key) if isinstance(item, Mapping) else None
        if identity not in last:
            order.append(identity)
        last[identity] = item
    return [last[identity] for identity in order]


# ---- equal results -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tag",
    [
        {"container_config": {"resources": {"limits": {"cpu": "2000m"}}}},
        {
            "pod_spec_config": {"node_selector": {"node-group.dp.ssup2": "worker"}},
            "merge_behavior": "SHALLOW",
        },
        {"pod_spec_config": {"nodeSelector": {"a": "b"}, "imagePullSecrets": [{"name": "r"}]}},
        {
            "container_config": {
                "envFrom": [{"configMapRef": {"name": "x"}}],
                "securityContext": {"runAsUser": 1},
            }
        },
        {"job_spec_config": {"ttlSecondsAfterFinished": 5}, "job_metadata": {"annotations": {"a": "b"}}},
    ],
)
def test_tag_parsing_equals_dagster_k8s(tag: dict[str, Any]) -> None:
    tags = {TAG: json.dumps(tag)}
    ours, reference = k8s_config_from_tags(tags), get_user_defined_k8s_config(tags)
    assert sections_of(ours) == sections_of(reference)
    assert ours.merge_behavior.value == reference.merge_behavior.value


MERGE_CASES = [
    ({"pod_spec_config": {"nodeSelector": {"a": "1"}}}, {"pod_spec_config": {"nodeSelector": {"b": "2"}}}),
    (
        {"container_config": {"resources": {"limits": {"cpu": "1"}}}},
        {"container_config": {"resources": {"limits": {"cpu": "2"}}}},
    ),
    ({"container_config": {"args": ["a", "b"]}}, {"container_config": {"args": ["c"]}}),
    ({"container_config": {"command": ["sh"]}}, {"container_config": {"command": ["bash"]}}),
    (
        {"pod_spec_config": {"tolerations": [{"key": "a", "operator": "Exists"}]}},
        {
            "pod_spec_config": {
                "tolerations": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]
            }
        },
    ),
    (
        {"container_config": {"env": [{"name": "A", "value": "1"}]}},
        {"container_config": {"env": [{"name": "B", "value": "2"}]}},
    ),
    (
        {"pod_spec_config": {"imagePullSecrets": [{"name": "r"}]}},
        {"pod_spec_config": {"imagePullSecrets": [{"name": "r"}]}},
    ),
    (
        {"container_config": {"resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}}},
        {"container_config": {"resources": {"limits": {"cpu": "2"}}}, "merge_behavior": "SHALLOW"},
    ),
    (
        {"pod_spec_config": {"nodeSelector": {"a": "1"}}},
        {"container_config": {"image": "x"}, "merge_behavior": "SHALLOW"},
    ),
]


@pytest.mark.parametrize(("low", "high"), MERGE_CASES)
def test_merge_equals_dagster_k8s(low: dict[str, Any], high: dict[str, Any]) -> None:
    a, b = parse_k8s_config(low), parse_k8s_config(high)
    reference = K8sContainerContext._merge_k8s_config(theirs(a), theirs(b))
    ours = merge_configs(a, b)
    assert sections_of(ours) == sections_of(reference)
    assert ours.merge_behavior.value == reference.merge_behavior.value


@settings(max_examples=150, deadline=None)
@given(st.lists(any_configs, min_size=2, max_size=4))
def test_merge_equals_dagster_k8s_up_to_collapsed_named_items(configs: list[K8sConfig]) -> None:
    """On any valid configs, dagster-k8s's merge equals ours once its duplicated named items are
    collapsed the way the API server reads them (the one deliberate difference of merging).
    """
    assume(not _restated_items(configs))
    reference = theirs(configs[0])
    for config in configs[1:]:
        reference = K8sContainerContext._merge_k8s_config(reference, theirs(config))
    assert effective(sections_of(merge_configs(*configs))) == effective(sections_of(reference))


def test_a_layer_restating_an_overridden_item_wins_unlike_dagster_k8s() -> None:
    """The second deliberate difference: dagster-k8s drops an item it has seen before, so a layer
    that restates an earlier layer's item cannot undo the layer in between; with us it wins."""
    mounts = [{"name": "data-a", "mountPath": "/b"}], [{"name": "data-b", "mountPath": "/b"}]
    configs = [parse_k8s_config({"container_config": {"volumeMounts": m}}) for m in (*mounts, mounts[0])]
    reference = theirs(configs[0])
    for config in configs[1:]:
        reference = K8sContainerContext._merge_k8s_config(reference, theirs(config))
    ours = effective(sections_of(merge_configs(*configs)))["container_config"]["volume_mounts"]
    assert ours == [{"name": "data-a", "mount_path": "/b"}]
    assert effective(sections_of(reference))["container_config"]["volume_mounts"] == [
        {"name": "data-b", "mount_path": "/b"}
    ]
    assert _restated_items(configs)


def _restated_items(configs: list[K8sConfig]) -> bool:
    """True when a named item appears unchanged in two layers (where the merges differ)."""
    seen: set[str] = set()
    for config in configs:
        mine = {json.dumps(item, sort_keys=True) for item in _named_items(sections_of(config))}
        if mine & seen:
            return True
        seen |= mine
    return False


def _named_items(value: Any, key: str = "") -> list[Any]:
    if isinstance(value, Mapping):
        return [found for k, item in value.items() for found in _named_items(item, k)]
    if isinstance(value, list):
        named = [item for item in value if key in SNAKE_NAMED_LISTS and isinstance(item, Mapping)]
        return named + [found for item in value for found in _named_items(item)]
    return []


def test_container_context_equals_dagster_k8s() -> None:
    context = {
        "env_vars": ["SHARED=1"],
        "k8s": {
            "env_config_maps": ["user-env"],
            "env_secrets": ["user-secret"],
            "env_vars": ["A=1"],
            "env": [{"name": "USER", "value": "ssup2"}],
            "image_pull_policy": "Always",
            "image_pull_secrets": [{"name": "registry"}],
            "namespace": "dagster",
            "resources": {"limits": {"cpu": "1000m", "memory": "2048Mi"}},
            "labels": {"team": "data"},
            "volumes": [{"name": "data", "emptyDir": {}}],
            "volume_mounts": [{"name": "data", "mountPath": "/data"}],
            "service_account_name": "runner",
            "scheduler_name": "batch",
            "security_context": {"runAsUser": 1000},
            "run_k8s_config": {"pod_spec_config": {"automount_service_account_token": True}},
        },
    }
    reference = K8sContainerContext.create_from_config(context)
    ours = parse_container_context(context)
    assert sections_of(ours.k8s_config) == sections_of(reference.run_k8s_config)
    assert ours.namespace == reference.namespace


LAUNCHER = {
    "job_namespace": "dagster",
    "image_pull_policy": "Always",
    "service_account_name": "dagster",
    "env_config_maps": ["cm"],
    "env_vars": ["A=1"],
    "labels": {"team": "data"},
    "resources": {"limits": {"cpu": "2000m", "memory": "4096Mi"}},
    "run_k8s_config": {"pod_spec_config": {"nodeSelector": {"node-group.dp.ssup2": "worker"}}},
}


def dagster_k8s_launcher_context(config: Mapping[str, Any]) -> K8sContainerContext:
    """What dagster-k8s's `create_for_run` builds from a K8sRunLauncher with this config."""
    return K8sContainerContext(
        image_pull_policy=config.get("image_pull_policy"),
        service_account_name=config.get("service_account_name"),
        env_config_maps=config.get("env_config_maps"),
        env_vars=config.get("env_vars"),
        labels=config.get("labels"),
        namespace=config.get("job_namespace"),
        resources=config.get("resources"),
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(config.get("run_k8s_config") or {}),
    )


def test_launcher_config_equals_dagster_k8s() -> None:
    reference = dagster_k8s_launcher_context(LAUNCHER)
    ours = parse_launcher_config(LAUNCHER, dagster_env=False)  # dagster-k8s adds DAGSTER_HOME later
    assert sections_of(ours.k8s_config) == sections_of(reference.run_k8s_config)


def normalised_manifest(manifest: Mapping[str, Any]) -> Any:
    """Drop empty and null fields; env as a name -> entry map (last wins, as the API server reads it)."""

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            result = {key: clean(item) for key, item in value.items()}
            if isinstance(result.get("env"), list):
                result["env"] = {item["name"]: item for item in result["env"]}
            return {key: item for key, item in result.items() if item not in (None, [], {})}
        if isinstance(value, list):
            return [clean(item) for item in value]
        return value

    return clean(manifest)


def snake_case_env(env: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """dagster-k8s builds env entries from kubernetes client models, which want snake_case keys."""
    return list(convert_keys(env, "list[V1EnvVar]", style="snake"))


def test_run_worker_manifest_equals_dagster_k8s() -> None:
    tags = {TAG: json.dumps({"container_config": {"resources": {"requests": {"cpu": "500m"}}}})}
    run_config = dagster_k8s_launcher_context(LAUNCHER).merge(
        K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(tags))
    )
    reference_job = construct_dagster_k8s_job(
        job_config=DagsterK8sJobConfig(
            job_image="img:1", dagster_home="/opt/dagster/dagster_home", postgres_password_secret="pg"
        ),
        args=["dagster", "api", "execute_run", "{}"],
        job_name=f"dagster-run-{RUN_ID}",
        pod_name=f"dagster-run-{RUN_ID}",
        component="run_worker",
        user_defined_k8s_config=run_config.run_k8s_config,
        labels={"dagster/job": "process_numbers", "dagster/run-id": RUN_ID},
        # deliberate difference: our pods also learn their own name/namespace/UID (docs/compat.md)
        env_vars=[
            {"name": "DAGSTER_RUN_JOB_NAME", "value": "process_numbers"},
            *snake_case_env(pod_identity_env()),
        ],
    )
    reference = ApiClient().sanitize_for_serialization(reference_job)
    del reference["spec"]["template"]["metadata"]["name"]  # ignored by the Job controller; we omit it

    layers = [
        Layer(
            "run_launcher", parse_launcher_config({**LAUNCHER, "postgres_password_secret": "pg"}).k8s_config
        ),
        Layer("run_tags", k8s_config_from_tags(tags)),
    ]
    ours = render_run_k8s_job(
        merge_layers(layers),
        run_id=RUN_ID,
        dagster_job="process_numbers",
        args=["dagster", "api", "execute_run", "{}"],
        image="img:1",
    ).manifest
    assert normalised_manifest(ours) == normalised_manifest(reference)


# ---- deliberate differences (docs/compat.md) ---------------------------------------------------


def test_difference_env_vars_are_merged_by_name_not_duplicated() -> None:
    low = parse_k8s_config({"container_config": {"env": [{"name": "A", "value": "1"}]}})
    high = parse_k8s_config({"container_config": {"env": [{"name": "A", "value": "2"}]}})
    reference = K8sContainerContext._merge_k8s_config(theirs(low), theirs(high))
    assert reference.container_config["env"] == [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]
    assert merge_configs(low, high).container_config["env"] == [{"name": "A", "value": "2"}]


def test_difference_volume_mounts_are_merged_by_mount_path() -> None:
    low = parse_k8s_config({"container_config": {"volumeMounts": [{"name": "a", "mountPath": "/d"}]}})
    high = parse_k8s_config({"container_config": {"volumeMounts": [{"name": "b", "mountPath": "/d"}]}})
    reference = K8sContainerContext._merge_k8s_config(theirs(low), theirs(high))
    assert len(reference.container_config["volume_mounts"]) == 2  # the API server rejects this pod
    assert merge_configs(low, high).container_config["volumeMounts"] == [{"name": "b", "mountPath": "/d"}]


def test_difference_step_pods_inherit_job_tags() -> None:
    tags = {TAG: json.dumps({"pod_spec_config": {"node_selector": {"node-group.dp.ssup2": "worker"}}})}
    run = DagsterRun(job_name="process_numbers_asset", run_id=RUN_ID, tags=tags)
    reference = K8sContainerContext.create_for_run(run, None, include_run_tags=False)  # as its executor does
    assert reference.run_k8s_config.pod_spec_config == {}
    inherited = merge_layers(build_step_layers(run_tags=tags)).config
    assert inherited.pod_spec_config == {"nodeSelector": {"node-group.dp.ssup2": "worker"}}
    opted_out = merge_layers(build_step_layers(run_tags=tags, inherit_run_tags=False)).config
    assert sections_of(opted_out) == sections_of(reference.run_k8s_config)


def test_difference_values_are_validated_when_parsed() -> None:
    bad = {"container_config": {"resources": {"limits": {"cpu": "2 cores"}}}}
    get_user_defined_k8s_config({TAG: json.dumps(bad)})  # accepted; the API server rejects it at launch
    with pytest.raises(ValueError, match="not a valid quantity"):
        parse_k8s_config(bad)


def test_named_lists_cover_the_strategic_merge_keys() -> None:
    for key in (
        "env",
        "containers",
        "initContainers",
        "volumes",
        "imagePullSecrets",
        "volumeMounts",
        "ports",
        "envFrom",
    ):
        assert key in NAMED_LISTS
    assert convert_keys({"mountPath": "/d"}, "V1VolumeMount", style="snake") == {"mount_path": "/d"}


def test_difference_identity_labels_win_over_user_labels() -> None:
    tags = {TAG: json.dumps({"job_metadata": {"labels": {"dagster/job": "spoofed", "team": "data"}}})}
    rendered = render_run_k8s_job(
        merge_layers([Layer("run_tags", k8s_config_from_tags(tags))]),
        run_id=RUN_ID,
        dagster_job="process_numbers",
        args=[],
        image="img",
    )
    assert rendered.manifest["metadata"]["labels"]["dagster/job"] == "process_numbers"
    assert rendered.manifest["metadata"]["labels"]["team"] == "data"


def test_difference_label_sanitising_is_always_valid() -> None:
    from dagster_k8s.utils import sanitize_k8s_label

    from dagster_ext.k8s.spec import is_label_value, sanitize_label_value

    assert not is_label_value(sanitize_k8s_label("_-x"))
    assert sanitize_label_value("_-x") == "x"
    assert sanitize_label_value("process_numbers") == sanitize_k8s_label("process_numbers")


def test_difference_run_job_names_stay_valid() -> None:
    from dagster_k8s.job import get_job_name_from_run_id

    from dagster_ext.k8s.spec import is_dns1123_label, run_k8s_job_name

    assert run_k8s_job_name(RUN_ID, resume_attempt=1) == get_job_name_from_run_id(RUN_ID, 1)
    assert len(get_job_name_from_run_id("x" * 60)) > 63
    assert is_dns1123_label(run_k8s_job_name("x" * 60))


def test_difference_step_image_order_matches_run_image_order() -> None:
    layers = build_step_layers(launcher_config={"job_image": "launcher"}, code_location_image="location")
    assert merge_layers(layers).image == "location"  # dagster-k8s steps would use "launcher"


def test_difference_job_config_is_deep_merged() -> None:
    tag = {
        "job_config": {"metadata": {"annotations": {"a": "b"}}},
        "job_metadata": {"labels": {"team": "data"}},
    }
    rendered = render_run_k8s_job(
        merge_layers([Layer("run_tags", parse_k8s_config(tag))]),
        run_id=RUN_ID,
        dagster_job="j",
        args=[],
        image="i",
    )
    assert rendered.manifest["metadata"]["annotations"] == {"a": "b"}
    assert rendered.manifest["metadata"]["labels"]["team"] == "data"


def test_difference_sidecar_named_like_the_main_container_is_merged_into_it() -> None:
    tag = {
        "pod_spec_config": {"containers": [{"name": "dagster", "image": "x", "workingDir": "/app"}]},
        "container_config": {"image": "main"},
    }
    rendered = render_run_k8s_job(
        merge_layers([Layer("run_tags", parse_k8s_config(tag))]),
        run_id=RUN_ID,
        dagster_job="j",
        args=[],
        image="i",
    )
    (container,) = rendered.manifest["spec"]["template"]["spec"]["containers"]
    assert (container["image"], container["workingDir"]) == ("main", "/app")
