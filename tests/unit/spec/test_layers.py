"""Layer precedence, step inheritance of run tags, and the container-context shorthand keys."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dagster_ext.k8s.spec import (
    PRECEDENCE,
    build_run_layers,
    build_step_layers,
    merge_layers,
    parse_container_context,
    parse_launcher_config,
    render_step_k8s_job,
)

TAG = "dagster-k8s/config"
SEED_RESOURCES = {
    "requests": {"cpu": "2000m", "memory": "4096Mi"},
    "limits": {"cpu": "2000m", "memory": "4096Mi"},
}
SEED_LAUNCHER = {
    "job_namespace": "dagster",
    "service_account_name": "dagster",
    "postgres_password_secret": "dagster-postgresql-secret",
    "run_k8s_config": {"pod_spec_config": {"nodeSelector": {"node-group.dp.ssup2": "worker"}}},
}
MAIN = "spec.template.spec.containers[dagster]"


def env_config(value: str) -> dict[str, Any]:
    return {"container_config": {"env": [{"name": "WHO", "value": value}]}}


def all_layer_inputs() -> dict[str, Any]:
    """Every layer sets env WHO to its own name."""
    return {
        "launcher_config": {"run_k8s_config": env_config("run_launcher")},
        "container_context": {"k8s": {"run_k8s_config": env_config("code_location")}},
        "run_tags": {TAG: json.dumps(env_config("run_tags"))},
        "executor_config": {
            "step_k8s_config": env_config("executor"),
            "per_step_k8s_config": {"op": env_config("per_step_k8s_config")},
        },
        "step_tags": {TAG: json.dumps(env_config("op_tags"))},
        "op_name": "op",
    }


def who(inputs: dict[str, Any]) -> str:
    env = merge_layers(build_step_layers(**inputs)).config.container_config["env"]
    (item,) = [item for item in env if item["name"] == "WHO"]
    return str(item["value"])


def test_precedence_later_layers_win() -> None:
    inputs = all_layer_inputs()
    assert who(inputs) == "per_step_k8s_config"
    del inputs["op_name"]
    assert who(inputs) == "op_tags"
    del inputs["step_tags"]
    assert who(inputs) == "executor"
    del inputs["executor_config"]
    assert who(inputs) == "run_tags"
    del inputs["run_tags"]
    assert who(inputs) == "code_location"
    del inputs["container_context"]
    assert who(inputs) == "run_launcher"


def test_layer_names_are_in_precedence_order() -> None:
    names = [layer.name for layer in build_step_layers(**all_layer_inputs())]
    assert names == list(PRECEDENCE)
    assert [layer.name for layer in build_run_layers()] == list(PRECEDENCE[:3])


def seed_step(**overrides: Any) -> Any:
    inputs: dict[str, Any] = {
        "launcher_config": SEED_LAUNCHER,
        "run_tags": {TAG: json.dumps({"container_config": {"resources": SEED_RESOURCES}})},
        "step_tags": {
            "domain": "numbers",
            TAG: json.dumps({"container_config": {"resources": SEED_RESOURCES}}),
        },
        "op_name": "generate_numbers",
    }
    inputs.update(overrides)
    merged = merge_layers(build_step_layers(**inputs))
    return render_step_k8s_job(
        merged,
        run_id="aaa0b6f8-b717-4aef-a4aa-4e1c590b960f",
        dagster_job="process_numbers",
        step_key="generate_numbers",
        compressed_step_args="payload",
        image="ghcr.io/example/workflows:1",
    )


def test_seed_step_pod_gets_op_resources_and_inherited_node_selector() -> None:
    rendered = seed_step()
    pod = rendered.manifest["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"node-group.dp.ssup2": "worker"}
    assert pod["containers"][0]["resources"] == SEED_RESOURCES
    assert rendered.layer_of("spec.template.spec.nodeSelector[node-group.dp.ssup2]") == "run_launcher"
    for field in ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory"):
        assert rendered.layer_of(f"{MAIN}.resources.{field}") == "op_tags"
    assert rendered.manifest["metadata"]["namespace"] == "dagster"


def test_step_pods_inherit_job_tags_by_default_and_can_opt_out() -> None:
    job_tag = {
        TAG: json.dumps({"pod_spec_config": {"tolerations": [{"key": "batch", "operator": "Exists"}]}})
    }
    inherited = seed_step(run_tags=job_tag)
    assert inherited.manifest["spec"]["template"]["spec"]["tolerations"] == [
        {"key": "batch", "operator": "Exists"}
    ]
    assert inherited.layer_of("spec.template.spec.tolerations[0].key") == "run_tags"
    isolated = seed_step(run_tags=job_tag, inherit_run_tags=False)
    assert "tolerations" not in isolated.manifest["spec"]["template"]["spec"]


def test_container_context_shorthand_keys() -> None:
    context = {
        "env_vars": ["SHARED=1"],
        "k8s": {
            "image_pull_policy": "IfNotPresent",
            "image_pull_secrets": [{"name": "registry"}],
            "service_account_name": "runner",
            "env_config_maps": ["user-env"],
            "env_secrets": ["user-secrets"],
            "env_vars": ["A=1", "B"],
            "env": [{"name": "USER", "value": "ssup2"}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "pvc"}}],
            "volume_mounts": [{"name": "data", "mount_path": "/data"}],
            "labels": {"team": "data"},
            "resources": {"limits": {"cpu": "1"}},
            "scheduler_name": "batch",
            "security_context": {"run_as_user": 1000},
            "namespace": "workflows",
        },
    }
    source = parse_container_context(context, environ={"B": "from-env"})
    config = source.k8s_config
    assert config.container_config == {
        "imagePullPolicy": "IfNotPresent",
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "resources": {"limits": {"cpu": "1"}},
        "securityContext": {"runAsUser": 1000},
        "envFrom": [{"configMapRef": {"name": "user-env"}}, {"secretRef": {"name": "user-secrets"}}],
        "env": [
            {"name": "SHARED", "value": "1"},
            {"name": "A", "value": "1"},
            {"name": "B", "value": "from-env"},
            {"name": "USER", "value": "ssup2"},
        ],
    }
    assert config.pod_spec_config == {
        "imagePullSecrets": [{"name": "registry"}],
        "serviceAccountName": "runner",
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "pvc"}}],
        "schedulerName": "batch",
    }
    assert config.job_metadata == {"labels": {"team": "data"}}
    assert config.pod_template_spec_metadata == {"labels": {"team": "data"}}
    assert source.namespace == "workflows"


def test_env_var_values_from_the_environment_are_never_read_without_environ() -> None:
    source = parse_container_context({"k8s": {"env_vars": ["DB_PASSWORD"]}})
    (item,) = source.k8s_config.container_config["env"]
    assert item["name"] == "DB_PASSWORD"
    assert "unresolved" in item["value"]


def test_container_context_accepts_the_grpc_env_var_json() -> None:
    raw = json.dumps(
        {"k8s": {"namespace": "dagster", "run_k8s_config": {"pod_spec_config": {"hostNetwork": True}}}}
    )
    source = parse_container_context(raw)
    assert source.namespace == "dagster"
    assert source.k8s_config.pod_spec_config == {"hostNetwork": True}


def test_raw_run_k8s_config_merges_onto_the_shorthand_keys_with_its_behavior() -> None:
    deep = parse_launcher_config(
        {
            "resources": {"limits": {"cpu": "1"}},
            "run_k8s_config": {"container_config": {"resources": {"requests": {"cpu": "1"}}}},
        }
    )
    assert deep.k8s_config.container_config["resources"] == {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}
    shallow = parse_launcher_config(
        {
            "resources": {"limits": {"cpu": "1"}},
            "run_k8s_config": {
                "container_config": {"resources": {"requests": {"cpu": "1"}}},
                "merge_behavior": "SHALLOW",
            },
        }
    )
    assert shallow.k8s_config.container_config["resources"] == {"requests": {"cpu": "1"}}


def test_launcher_dagster_env_vars_reference_secrets_by_name() -> None:
    env = parse_launcher_config(SEED_LAUNCHER).k8s_config.container_config["env"]
    assert env == [
        {"name": "DAGSTER_HOME", "value": "/opt/dagster/dagster_home"},
        {
            "name": "DAGSTER_PG_PASSWORD",
            "valueFrom": {
                "secretKeyRef": {"name": "dagster-postgresql-secret", "key": "postgresql-password"}
            },
        },
    ]


@pytest.mark.parametrize(
    ("launcher", "context", "executor", "expected"),
    [
        ({"job_namespace": "a"}, None, None, "a"),
        ({"job_namespace": "a"}, {"k8s": {"namespace": "b"}}, None, "b"),
        ({"job_namespace": "a"}, {"k8s": {"namespace": "b"}}, {"job_namespace": "c"}, "c"),
    ],
)
def test_namespace_precedence(launcher: Any, context: Any, executor: Any, expected: str) -> None:
    layers = build_step_layers(launcher_config=launcher, container_context=context, executor_config=executor)
    assert merge_layers(layers).namespace == expected


def test_default_image_precedence_and_tag_image_beats_all() -> None:
    base: dict[str, Any] = {"launcher_config": {"job_image": "launcher"}}
    assert merge_layers(build_step_layers(**base)).image == "launcher"
    base["code_location_image"] = "location"
    assert merge_layers(build_step_layers(**base)).image == "location"
    base["executor_config"] = {"job_image": "executor"}
    assert merge_layers(build_step_layers(**base)).image == "executor"
    base["run_tags"] = {TAG: {"container_config": {"image": "tagged"}}}
    rendered = seed_step(**base)
    assert rendered.manifest["spec"]["template"]["spec"]["containers"][0]["image"] == "tagged"
    assert rendered.layer_of(f"{MAIN}.image") == "run_tags"


def test_per_step_config_applies_only_to_its_op() -> None:
    executor = {"per_step_k8s_config": {"other_op": {"pod_spec_config": {"priorityClassName": "high"}}}}
    rendered = seed_step(executor_config=executor)
    assert "priorityClassName" not in rendered.manifest["spec"]["template"]["spec"]
    rendered = seed_step(executor_config=executor, op_name="other_op")
    assert rendered.manifest["spec"]["template"]["spec"]["priorityClassName"] == "high"
    assert rendered.layer_of("spec.template.spec.priorityClassName") == "per_step_k8s_config"


def test_legacy_resource_requirements_tag() -> None:
    tags = {"dagster-k8s/resource_requirements": json.dumps({"limits": {"cpu": "3"}})}
    rendered = seed_step(step_tags=tags)
    assert rendered.manifest["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "3"
