"""One example per merge rule, and provenance of merged fields."""

from __future__ import annotations

from typing import Any

from dagster_ext.k8s.spec import (
    K8sConfig,
    Layer,
    MergeBehavior,
    merge_configs,
    merge_layers,
    parse_k8s_config,
)


def cfg(**sections: Any) -> K8sConfig:
    return parse_k8s_config(sections)


def container(*configs: K8sConfig) -> dict[str, Any]:
    return dict(merge_configs(*configs).container_config)


def pod(*configs: K8sConfig) -> dict[str, Any]:
    return dict(merge_configs(*configs).pod_spec_config)


def test_dicts_merge_recursively() -> None:
    base = cfg(pod_spec_config={"nodeSelector": {"zone": "a"}})
    over = cfg(pod_spec_config={"nodeSelector": {"group": "worker"}})
    assert pod(base, over)["nodeSelector"] == {"zone": "a", "group": "worker"}


def test_scalars_are_replaced() -> None:
    base = cfg(container_config={"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}})
    over = cfg(container_config={"resources": {"limits": {"cpu": "2"}}})
    assert container(base, over)["resources"] == {"limits": {"cpu": "2", "memory": "1Gi"}}


def test_command_and_args_are_replaced_not_appended() -> None:
    base = cfg(container_config={"command": ["sh", "-c"], "args": ["echo a"]})
    over = cfg(container_config={"args": ["echo b"]})
    assert container(base, over)["args"] == ["echo b"]
    assert container(base, over)["command"] == ["sh", "-c"]


def test_env_is_merged_by_name_upper_layer_wins_order_kept() -> None:
    base = cfg(container_config={"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]})
    over = cfg(container_config={"env": [{"name": "A", "value": "3"}, {"name": "C", "value": "4"}]})
    assert container(base, over)["env"] == [
        {"name": "A", "value": "3"},
        {"name": "B", "value": "2"},
        {"name": "C", "value": "4"},
    ]


def test_named_items_other_than_containers_are_replaced_whole() -> None:
    secret = {"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    base = cfg(container_config={"env": [secret]})
    over = cfg(container_config={"env": [{"name": "A", "value": "plain"}]})
    assert container(base, over)["env"] == [{"name": "A", "value": "plain"}]  # not both value and valueFrom


def test_containers_are_merged_by_name_field_by_field() -> None:
    sidecar = {"name": "proxy", "image": "proxy:1", "env": [{"name": "X", "value": "1"}]}
    base = cfg(pod_spec_config={"containers": [sidecar]})
    over = cfg(pod_spec_config={"containers": [{"name": "proxy", "image": "proxy:2"}]})
    assert pod(base, over)["containers"] == [
        {"name": "proxy", "image": "proxy:2", "env": [{"name": "X", "value": "1"}]}
    ]


def test_volume_mounts_are_merged_by_mount_path() -> None:
    base = cfg(container_config={"volumeMounts": [{"name": "a", "mountPath": "/data"}]})
    over = cfg(container_config={"volumeMounts": [{"name": "b", "mountPath": "/data", "readOnly": True}]})
    assert container(base, over)["volumeMounts"] == [{"name": "b", "mountPath": "/data", "readOnly": True}]


def test_volumes_and_image_pull_secrets_are_merged_by_name() -> None:
    base = cfg(
        pod_spec_config={"volumes": [{"name": "v", "emptyDir": {}}], "imagePullSecrets": [{"name": "reg"}]}
    )
    over = cfg(
        pod_spec_config={
            "volumes": [{"name": "v", "configMap": {"name": "cm"}}],
            "imagePullSecrets": [{"name": "reg"}, {"name": "other"}],
        }
    )
    merged = pod(base, over)
    assert merged["volumes"] == [{"name": "v", "configMap": {"name": "cm"}}]
    assert merged["imagePullSecrets"] == [{"name": "reg"}, {"name": "other"}]


def test_ports_are_merged_by_container_port() -> None:
    base = cfg(container_config={"ports": [{"containerPort": 8080, "name": "http"}]})
    over = cfg(container_config={"ports": [{"containerPort": 8080, "name": "web"}, {"containerPort": 9090}]})
    assert container(base, over)["ports"] == [{"containerPort": 8080, "name": "web"}, {"containerPort": 9090}]


def test_env_from_is_merged_by_referenced_name() -> None:
    base = cfg(container_config={"envFrom": [{"configMapRef": {"name": "a"}}, {"secretRef": {"name": "s"}}]})
    over = cfg(container_config={"envFrom": [{"configMapRef": {"name": "a", "optional": True}}]})
    assert container(base, over)["envFrom"] == [
        {"configMapRef": {"name": "a", "optional": True}},
        {"secretRef": {"name": "s"}},
    ]


def test_other_lists_are_concatenated_without_duplicates() -> None:
    toleration = {"key": "dedicated", "operator": "Exists"}
    base = cfg(pod_spec_config={"tolerations": [toleration]})
    over = cfg(pod_spec_config={"tolerations": [toleration, {"key": "gpu", "operator": "Exists"}]})
    assert pod(base, over)["tolerations"] == [toleration, {"key": "gpu", "operator": "Exists"}]


def test_shallow_replaces_top_level_keys_of_each_section() -> None:
    base = cfg(
        container_config={"resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}, "image": "a"},
        pod_spec_config={"nodeSelector": {"zone": "a"}},
    )
    over = cfg(container_config={"resources": {"limits": {"cpu": "2"}}}, merge_behavior="shallow")
    merged = merge_configs(base, over)
    assert merged.container_config == {"resources": {"limits": {"cpu": "2"}}, "image": "a"}
    assert merged.pod_spec_config == {"nodeSelector": {"zone": "a"}}  # sections it does not set are kept
    assert merged.merge_behavior is MergeBehavior.SHALLOW


def test_merge_behavior_is_case_insensitive() -> None:
    assert cfg(merge_behavior="Shallow").merge_behavior is MergeBehavior.SHALLOW
    assert cfg(merge_behavior="deep").merge_behavior is MergeBehavior.DEEP
    assert cfg().merge_behavior is MergeBehavior.DEEP


def test_camel_and_snake_case_parse_to_the_same_camel_case() -> None:
    snake = cfg(pod_spec_config={"node_selector": {"a": "b"}, "image_pull_secrets": [{"name": "r"}]})
    camel = cfg(pod_spec_config={"nodeSelector": {"a": "b"}, "imagePullSecrets": [{"name": "r"}]})
    assert snake == camel
    assert camel.to_dict(style="snake")["pod_spec_config"] == {
        "node_selector": {"a": "b"},
        "image_pull_secrets": [{"name": "r"}],
    }


def test_null_unsets_an_inherited_field() -> None:
    base = cfg(pod_spec_config={"nodeSelector": {"zone": "a"}})
    over = cfg(pod_spec_config={"nodeSelector": None})
    assert pod(base, over) == {"nodeSelector": None}  # the renderer drops nulls


def test_provenance_names_the_layer_of_each_field() -> None:
    layers = [
        Layer("run_launcher", cfg(pod_spec_config={"nodeSelector": {"node-group.dp.ssup2": "worker"}})),
        Layer("op_tags", cfg(container_config={"resources": {"limits": {"cpu": "2000m"}}})),
        Layer("per_step_k8s_config", cfg(container_config={"env": [{"name": "A", "value": "1"}]})),
    ]
    merged = merge_layers(layers)
    assert merged.layer_of("pod_spec_config.nodeSelector[node-group.dp.ssup2]") == "run_launcher"
    assert merged.layer_of("container_config.resources.limits.cpu") == "op_tags"
    assert merged.layer_of("container_config.env[A].value") == "per_step_k8s_config"


def test_provenance_follows_the_winner_of_each_leaf() -> None:
    layers = [
        Layer("low", cfg(container_config={"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}})),
        Layer("high", cfg(container_config={"resources": {"limits": {"cpu": "2"}}})),
    ]
    merged = merge_layers(layers)
    assert merged.layer_of("container_config.resources.limits.cpu") == "high"
    assert merged.layer_of("container_config.resources.limits.memory") == "low"


def test_shallow_provenance_drops_replaced_fields() -> None:
    layers = [
        Layer("low", cfg(container_config={"resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}})),
        Layer(
            "high", cfg(container_config={"resources": {"limits": {"cpu": "2"}}}, merge_behavior="SHALLOW")
        ),
    ]
    merged = merge_layers(layers)
    assert merged.layer_of("container_config.resources.limits.cpu") == "high"
    assert merged.layer_of("container_config.resources.requests.cpu") is None


def test_namespace_and_default_image_come_from_the_last_layer_setting_them() -> None:
    merged = merge_layers(
        [Layer("a", namespace="one", image="img:a"), Layer("b", namespace="two"), Layer("c")]
    )
    assert (merged.namespace, merged.namespace_layer) == ("two", "b")
    assert (merged.image, merged.image_layer) == ("img:a", "a")
