"""Malformed configuration: every error names the exact key path (and the likely fix)."""

from __future__ import annotations

from typing import Any

import pytest

from dagster_ext.errors import ConfigError
from dagster_ext.k8s.spec import (
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

TAG = "dagster-k8s/config"

# (dagster-k8s/config value, path named in the error, phrase the error contains)
MALFORMED_TAGS: list[tuple[Any, str, str]] = [
    (
        {"pod_spec_config": {"nodeSelectr": {}}},
        f"{TAG}.pod_spec_config.nodeSelectr",
        "did you mean 'nodeSelector'?",
    ),
    (
        {"pod_spec_config": {"node_selectr": {}}},
        f"{TAG}.pod_spec_config.node_selectr",
        "did you mean 'node_selector'?",
    ),
    ({"container_config": {"resouces": {}}}, f"{TAG}.container_config.resouces", "did you mean 'resources'?"),
    ({"container_config": {"Image": "x"}}, f"{TAG}.container_config.Image", "did you mean 'image'?"),
    ({"pod_spec": {}}, f"{TAG}.pod_spec", "did you mean 'pod_spec_config'?"),
    ({"merge_behavior": "DEEPER"}, f"{TAG}.merge_behavior", "expected 'DEEP' or 'SHALLOW'"),
    ({"merge_behavior": 1}, f"{TAG}.merge_behavior", "expected 'DEEP' or 'SHALLOW'"),
    (
        {"container_config": "resources"},
        f"{TAG}.container_config",
        "expected a mapping of V1Container fields",
    ),
    (
        {"pod_spec_config": ["nodeSelector"]},
        f"{TAG}.pod_spec_config",
        "expected a mapping of V1PodSpec fields",
    ),
    (["container_config"], TAG, "expected a mapping of sections"),
    ('{"container_config": ', TAG, "not valid JSON"),
    (
        {"container_config": {"resources": {"limits": {"cpu": "2 cores"}}}},
        f"{TAG}.container_config.resources.limits.cpu",
        "not a valid quantity",
    ),
    (
        {"container_config": {"resources": {"requests": {"memory": "-1Gi"}}}},
        f"{TAG}.container_config.resources.requests.memory",
        "negative",
    ),
    (
        {"container_config": {"resources": {"limits": {"cpu": True}}}},
        f"{TAG}.container_config.resources.limits.cpu",
        "expected a quantity",
    ),
    (
        {"container_config": {"resources": {"limitz": {"cpu": "1"}}}},
        f"{TAG}.container_config.resources.limitz",
        "did you mean 'limits'?",
    ),
    ({"container_config": {"image": 5}}, f"{TAG}.container_config.image", "expected a string"),
    (
        {"pod_spec_config": {"tolerations": {"key": "a"}}},
        f"{TAG}.pod_spec_config.tolerations",
        "expected a list",
    ),
    (
        {"pod_spec_config": {"tolerations": [{"key": "a", "operatr": "Exists"}]}},
        f"{TAG}.pod_spec_config.tolerations[0].operatr",
        "did you mean 'operator'?",
    ),
    ({"container_config": {"env": [{"value": "x"}]}}, f"{TAG}.container_config.env[0].name", "required"),
    (
        {"container_config": {"env": [{"name": "A=B", "value": "x"}]}},
        f"{TAG}.container_config.env[0].name",
        "not a valid environment variable name",
    ),
    (
        {"container_config": {"env": ["A=B"]}},
        f"{TAG}.container_config.env[0]",
        "expected a mapping of V1EnvVar",
    ),
    (
        {"container_config": {"env": [{"name": "A", "value": 1}]}},
        f"{TAG}.container_config.env[0].value",
        "string",
    ),
    (
        {"pod_template_spec_metadata": {"labels": {"team": "data platform"}}},
        f"{TAG}.pod_template_spec_metadata.labels.team",
        "not a valid label value",
    ),
    ({"job_metadata": {"labels": {"x": "a" * 64}}}, f"{TAG}.job_metadata.labels.x", "at most 63"),
    ({"job_metadata": {"labels": {"x": "a\n"}}}, f"{TAG}.job_metadata.labels.x", "not a valid label value"),
    (
        {"container_config": {"resources": {"limits": {"cpu": "\u0663"}}}},
        f"{TAG}.container_config.resources.limits.cpu",
        "not a valid quantity",
    ),
    (
        {"job_metadata": {"labels": {"Bad_Prefix.com/x": "v"}}},
        f"{TAG}.job_metadata.labels[Bad_Prefix.com/x]",
        "not a lower-case DNS subdomain",
    ),
    (
        {"job_metadata": {"annotations": {"": "v"}}},
        f"{TAG}.job_metadata.annotations[]",
        "must not be empty",
    ),
    (
        {"pod_spec_config": {"containers": [{"name": "Sidecar_1", "image": "x"}]}},
        f"{TAG}.pod_spec_config.containers[0].name",
        "not a valid name",
    ),
    (
        {"pod_spec_config": {"volumes": [{"name": "v" * 64, "emptyDir": {}}]}},
        f"{TAG}.pod_spec_config.volumes[0].name",
        "at most 63",
    ),
    (
        {"pod_spec_config": {"volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "1 GB"}}]}},
        f"{TAG}.pod_spec_config.volumes[0].emptyDir.sizeLimit",
        "not a valid quantity",
    ),
    (
        {"container_config": {"imagePullPolicy": "always"}},
        f"{TAG}.container_config.imagePullPolicy",
        "did you mean 'Always'?",
    ),
    (
        {"pod_spec_config": {"restartPolicy": "Sometimes"}},
        f"{TAG}.pod_spec_config.restartPolicy",
        "must be one of",
    ),
    (
        {"pod_spec_config": {"nodeSelector": {"a": 1}}},
        f"{TAG}.pod_spec_config.nodeSelector.a",
        "expected a string",
    ),
    (
        {"job_spec_config": {"backoffLimit": "0"}},
        f"{TAG}.job_spec_config.backoffLimit",
        "expected an integer",
    ),
    (
        {"job_spec_config": {"backoff_limit": True}},
        f"{TAG}.job_spec_config.backoff_limit",
        "expected an integer",
    ),
    (
        {"pod_spec_config": {"nodeSelector": {}, "node_selector": {}}},
        f"{TAG}.pod_spec_config.node_selector",
        "both 'nodeSelector' and 'node_selector' given",
    ),
    (
        {"container_config": {"securityContext": {"runAsUser": "root"}}},
        f"{TAG}.container_config.securityContext.runAsUser",
        "expected an integer",
    ),
    (
        {"pod_spec_config": {"affinity": {"nodeAffinity": {"requiredDuringScheduling": {}}}}},
        f"{TAG}.pod_spec_config.affinity.nodeAffinity.requiredDuringScheduling",
        "did you mean 'requiredDuringSchedulingIgnoredDuringExecution'?",
    ),
]


@pytest.mark.parametrize(
    ("value", "path", "phrase"), MALFORMED_TAGS, ids=[case[1] for case in MALFORMED_TAGS]
)
def test_malformed_tag_names_the_key_path(value: Any, path: str, phrase: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_k8s_config(value)
    lines = str(caught.value).splitlines()
    assert any(line.startswith(f"{path}: ") and phrase in line for line in lines), str(caught.value)


def test_there_are_at_least_twenty_malformed_cases() -> None:
    assert len(MALFORMED_TAGS) >= 20


def test_all_problems_of_one_input_are_reported_together() -> None:
    value = {
        "pod_spec_config": {"nodeSelectr": {}},
        "container_config": {"resources": {"limits": {"cpu": "x"}}},
    }
    with pytest.raises(ConfigError) as caught:
        parse_k8s_config(value)
    assert caught.value.path == f"{TAG}.pod_spec_config.nodeSelectr"
    assert len(str(caught.value).splitlines()) == 2
    assert f"{TAG}.container_config.resources.limits.cpu" in str(caught.value)


def test_tags_are_validated_as_stored_json_strings() -> None:
    with pytest.raises(ConfigError, match=r"dagster-k8s/config\.container_config\.resources\.limits\.cpu"):
        k8s_config_from_tags({TAG: '{"container_config": {"resources": {"limits": {"cpu": "lots"}}}}'})


def test_legacy_resource_requirements_tag_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"dagster-k8s/resource_requirements\.limits\.memory"):
        k8s_config_from_tags({"dagster-k8s/resource_requirements": '{"limits": {"memory": "1 GB"}}'})


@pytest.mark.parametrize(
    ("context", "path", "phrase"),
    [
        ({"k8s": {"resouces": {}}}, "container_context.k8s.resouces", "did you mean 'resources'?"),
        ({"k8s": {"env_vars": [5]}}, "container_context.k8s.env_vars[0]", "expected a string"),
        ({"k8s": {"env_vars": ["=x"]}}, "container_context.k8s.env_vars[0]", "no variable name"),
        ({"k8s": {"env_vars": ["UNSET_FOR_TEST"]}}, "container_context.k8s.env_vars[0]", "is not set"),
        ({"k8s": {"namespace": "Bad_NS"}}, "container_context.k8s.namespace", "not a valid namespace"),
        ({"k8s": {"env_secrets": ["Bad Secret"]}}, "container_context.k8s.env_secrets[0]", "not a valid"),
        ({"k8s": {"labels": {"a": "b c"}}}, "container_context.k8s.labels.a", "not a valid label value"),
        ({"k8s": {"env": [{"nam": "A"}]}}, "container_context.k8s.env[0].nam", "did you mean 'name'?"),
        (
            {"k8s": {"volume_mounts": [{"name": "data"}]}},
            "container_context.k8s.volume_mounts[0].mountPath",
            "required",
        ),
        (
            {"k8s": {"server_k8s_config": {"service_spec_config": {"typo": 1}}}},
            "container_context.k8s.server_k8s_config.service_spec_config.typo",
            "unknown field",
        ),
        ('{"k8s": ', "container_context", "not valid JSON"),
    ],
)
def test_malformed_container_context(context: Any, path: str, phrase: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_container_context(context, environ={})
    assert any(line.startswith(f"{path}: ") and phrase in line for line in str(caught.value).splitlines())


def test_malformed_launcher_config_uses_the_dagster_yaml_path() -> None:
    config = {"job_namespace": "dagster", "run_k8s_config": {"pod_spec_config": {"nodeSelectr": {}}}}
    with pytest.raises(
        ConfigError, match=r"^run_launcher\.config\.run_k8s_config\.pod_spec_config\.nodeSelectr: "
    ):
        parse_launcher_config(config)


def test_malformed_per_step_config_uses_the_run_config_path() -> None:
    config = {
        "per_step_k8s_config": {
            "generate_numbers": {"container_config": {"resources": {"limits": {"cpu": "x"}}}}
        }
    }
    expected = (
        r"execution\.config\.per_step_k8s_config\.generate_numbers\.container_config\.resources\.limits\.cpu"
    )
    with pytest.raises(ConfigError, match=expected):
        parse_executor_config(config)


def test_malformed_step_k8s_config() -> None:
    with pytest.raises(
        ConfigError, match=r"execution\.config\.step_k8s_config\.merge_behavior: .*did you mean 'SHALLOW'"
    ):
        parse_executor_config({"step_k8s_config": {"merge_behavior": "SHALLO"}})


def test_invalid_external_job_name_override() -> None:
    merged = merge_layers([])
    with pytest.raises(ConfigError, match=r"^k8s_job_name: .*DNS-1123"):
        render_external_k8s_job(
            merged, run_id="r", dagster_job="j", step_key="s", image="busybox", name="x" * 64
        )


def test_request_above_limit_names_both_layers() -> None:
    layers = build_step_layers(
        launcher_config={"resources": {"limits": {"cpu": "1"}}},
        step_tags={TAG: {"container_config": {"resources": {"requests": {"cpu": "2000m"}}}}},
    )
    with pytest.raises(ConfigError) as caught:
        render_step_k8s_job(
            merge_layers(layers),
            run_id="r",
            dagster_job="j",
            step_key="s",
            compressed_step_args="x",
            image="i",
        )
    message = str(caught.value)
    assert "spec.template.spec.containers[dagster].resources.requests.cpu" in message
    assert "(from op_tags)" in message and "(from run_launcher)" in message
