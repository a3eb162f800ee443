"""What the API server refuses for a Job is a ConfigError naming the key path, at parse time for
one layer and at render time for rules spanning the merged layers. (The same rules are checked
against a real API server in tests/integration/spec/test_apiserver_parity.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from dagster_ext.errors import ConfigError
from dagster_ext.k8s.spec import Layer, merge_layers, parse_k8s_config, render_step_k8s_job

TAG = "dagster-k8s/config"

# (config, path of the problem)
PARSE_ERRORS: list[tuple[dict[str, Any], str]] = [
    (
        {"pod_spec_config": {"tolerations": [{"operator": "Equal"}]}},
        "pod_spec_config.tolerations[0].operator",
    ),
    (
        {"pod_spec_config": {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}},
        "pod_spec_config.tolerations[0].value",
    ),
    (
        {"pod_spec_config": {"tolerations": [{"key": "k", "operator": "Exists", "tolerationSeconds": 5}]}},
        "pod_spec_config.tolerations[0].effect",
    ),
    (
        {"pod_spec_config": {"tolerations": [{"key": "bad key", "operator": "Exists"}]}},
        "pod_spec_config.tolerations[0].key",
    ),
    ({"job_spec_config": {"backoffLimit": -1}}, "job_spec_config.backoffLimit"),
    ({"job_spec_config": {"ttlSecondsAfterFinished": -1}}, "job_spec_config.ttlSecondsAfterFinished"),
    ({"job_spec_config": {"activeDeadlineSeconds": -1}}, "job_spec_config.activeDeadlineSeconds"),
    ({"job_spec_config": {"parallelism": 2**31}}, "job_spec_config.parallelism"),
    ({"job_spec_config": {"completionMode": "indexed"}}, "job_spec_config.completionMode"),
    ({"pod_spec_config": {"activeDeadlineSeconds": 0}}, "pod_spec_config.activeDeadlineSeconds"),
    ({"pod_spec_config": {"restartPolicy": "Always"}}, "pod_spec_config.restartPolicy"),
    (
        {"job_config": {"spec": {"template": {"spec": {"restartPolicy": "Always", "containers": []}}}}},
        "job_config.spec.template.spec.restartPolicy",
    ),
    ({"pod_spec_config": {"serviceAccountName": "My_SA"}}, "pod_spec_config.serviceAccountName"),
    ({"pod_spec_config": {"hostname": "a.b"}}, "pod_spec_config.hostname"),
    ({"container_config": {"imagePullPolicy": "always"}}, "container_config.imagePullPolicy"),
    ({"container_config": {"ports": [{"containerPort": 0}]}}, "container_config.ports[0].containerPort"),
    (
        {"container_config": {"ports": [{"containerPort": 80, "hostPort": 65536}]}},
        "container_config.ports[0].hostPort",
    ),
    (
        {"container_config": {"ports": [{"containerPort": 80, "protocol": "tcp"}]}},
        "container_config.ports[0].protocol",
    ),
    (
        {"container_config": {"ports": [{"containerPort": 80, "name": "a--b"}]}},
        "container_config.ports[0].name",
    ),
    (
        {
            "container_config": {
                "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "Bad_Name", "key": "k"}}}]
            }
        },
        "container_config.env[0].valueFrom.secretKeyRef.name",
    ),
    (
        {
            "container_config": {
                "env": [{"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "a"}}}]
            }
        },
        "container_config.env[0].valueFrom",
    ),
    ({"container_config": {"envFrom": [{"prefix": "P"}]}}, "container_config.envFrom[0]"),
    (
        {"container_config": {"envFrom": [{"prefix": "A=B", "secretRef": {"name": "s"}}]}},
        "container_config.envFrom[0].prefix",
    ),
    (
        {"container_config": {"envFrom": [{"secretRef": {"name": "S"}}]}},
        "container_config.envFrom[0].secretRef.name",
    ),
    (
        {"container_config": {"readinessProbe": {"periodSeconds": -1}}},
        "container_config.readinessProbe.periodSeconds",
    ),
    (
        {"pod_spec_config": {"volumes": [{"name": "v", "emptyDir": {}, "secret": {"secretName": "s"}}]}},
        "pod_spec_config.volumes[0]",
    ),
    (
        {"pod_spec_config": {"volumes": [{"name": "v", "secret": {"secretName": "S_1"}}]}},
        "pod_spec_config.volumes[0].secret.secretName",
    ),
    (
        {"pod_spec_config": {"volumes": [{"name": "v", "secret": {"secretName": "s", "defaultMode": 512}}]}},
        "pod_spec_config.volumes[0].secret.defaultMode",
    ),
]


@pytest.mark.parametrize(("config", "path"), PARSE_ERRORS, ids=[path for _, path in PARSE_ERRORS])
def test_values_the_api_server_refuses_are_rejected_when_parsed(config: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_k8s_config(config)
    assert err.value.path == f"{TAG}.{path}", str(err.value)


def test_in_range_values_and_empty_optional_names_pass() -> None:
    parse_k8s_config(
        {
            "job_spec_config": {"backoffLimit": 0, "activeDeadlineSeconds": 0, "ttlSecondsAfterFinished": 0},
            "pod_spec_config": {
                "restartPolicy": "OnFailure",
                "activeDeadlineSeconds": 1,
                "serviceAccountName": "",
            },
            "container_config": {"ports": [{"containerPort": 65535, "hostPort": 0, "protocol": "SCTP"}]},
        }
    )


def render(*configs: dict[str, Any]) -> dict[str, Any]:
    layers = [Layer(f"layer{i}", parse_k8s_config(config)) for i, config in enumerate(configs)]
    rendered = render_step_k8s_job(
        merge_layers(layers), run_id="r", dagster_job="j", step_key="s", compressed_step_args="a", image="i"
    )
    return rendered.manifest


# (layers, path of the problem): rules that only the merged Job can break
RENDER_ERRORS: list[tuple[list[dict[str, Any]], str]] = [
    (
        [{"container_config": {"volumeMounts": [{"name": "data", "mountPath": "/d"}]}}],
        "containers[0].volumeMounts[0].name",
    ),
    ([{"pod_spec_config": {"containers": [{"name": "side"}]}}], "containers[1].image"),
    (
        [
            {
                "pod_spec_config": {
                    "containers": [{"name": "side", "image": "i"}],
                    "initContainers": [{"name": "side", "image": "i"}],
                }
            }
        ],
        "initContainers[0].name",
    ),
    (
        [
            {
                "container_config": {
                    "ports": [{"containerPort": 1, "name": "p"}, {"containerPort": 2, "name": "p"}]
                }
            }
        ],
        "containers[0].ports[1].name",
    ),
    ([{"pod_spec_config": {"dnsPolicy": "None"}}], "dnsConfig.nameservers"),
    ([{"container_config": {"restartPolicy": "Always"}}], "containers[0].restartPolicy"),
    (
        [{"pod_spec_config": {"initContainers": [{"name": "i", "image": "x", "restartPolicy": "Never"}]}}],
        "initContainers[0].restartPolicy",
    ),
    (
        [
            {
                "pod_spec_config": {
                    "initContainers": [{"name": "i", "image": "x", "startupProbe": {"exec": {}}}]
                }
            }
        ],
        "initContainers[0].startupProbe",
    ),
    (
        [
            {"container_config": {"livenessProbe": {"exec": {"command": ["true"]}}}},
            {"container_config": {"livenessProbe": {"tcpSocket": {"port": 1}}}},
        ],
        "containers[0].livenessProbe",
    ),
    (
        [{"container_config": {"livenessProbe": {"exec": {}, "successThreshold": 2}}}],
        "containers[0].livenessProbe.successThreshold",
    ),
]


@pytest.mark.parametrize(("configs", "path"), RENDER_ERRORS, ids=[path for _, path in RENDER_ERRORS])
def test_rules_across_layers_are_checked_when_rendered(configs: list[dict[str, Any]], path: str) -> None:
    with pytest.raises(ConfigError) as err:
        render(*configs)
    assert err.value.path == f"spec.template.spec.{path}", str(err.value)


def test_a_mount_may_use_a_volume_another_layer_defines() -> None:
    manifest = render(
        {"pod_spec_config": {"volumes": [{"name": "data", "emptyDir": {}}]}},
        {"container_config": {"volumeMounts": [{"name": "data", "mountPath": "/d"}]}},
    )
    assert manifest["spec"]["template"]["spec"]["volumes"] == [{"name": "data", "emptyDir": {}}]


@pytest.mark.parametrize(
    ("job_spec", "path"),
    [
        ({"completionMode": "Indexed", "parallelism": 2}, "spec.completions"),
        ({"completionMode": "Indexed", "completions": 1, "parallelism": 100_001}, "spec.parallelism"),
        ({"backoffLimitPerIndex": 1}, "spec.backoffLimitPerIndex"),
        (
            {"completionMode": "Indexed", "completions": 2, "backoffLimitPerIndex": 1, "maxFailedIndexes": 3},
            "spec.maxFailedIndexes",
        ),
    ],
)
def test_completion_mode_rules(job_spec: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as err:
        render({"job_spec_config": job_spec})
    assert err.value.path == path
