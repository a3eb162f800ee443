"""The launcher's allowlists for user-defined config, compared with dagster-k8s."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dagster._core.storage.dagster_run import DagsterRun
from dagster_k8s.container_context import K8sContainerContext

from dagster_ext.errors import ConfigError
from dagster_ext.k8s.spec import build_run_layers, build_step_layers, enforce_allowlist

TAG = "dagster-k8s/config"
ALLOWED = {"container_config": {"resources": True, "env": True}, "pod_spec_config": {"node_selector": True}}


def run_tags(value: dict[str, Any]) -> dict[str, str]:
    return {TAG: json.dumps(value)}


def test_allowed_fields_pass() -> None:
    layers = build_run_layers(
        launcher_config={
            "run_k8s_config": {"pod_spec_config": {"hostNetwork": True}}
        },  # operator's own: not checked
        run_tags=run_tags(
            {
                "container_config": {"resources": {"limits": {"cpu": "1"}}},
                "pod_spec_config": {"nodeSelector": {"a": "b"}},
            }
        ),
    )
    checked, removed = enforce_allowlist(layers, allowed_fields=ALLOWED, allowed_env_vars=None)
    assert checked == layers and removed == []


def test_disallowed_fields_are_named_per_layer() -> None:
    layers = build_step_layers(
        container_context={"k8s": {"namespace": "other", "service_account_name": "admin"}},
        step_tags=run_tags({"pod_spec_config": {"hostNetwork": True}}),
    )
    with pytest.raises(ConfigError) as caught:
        enforce_allowlist(layers, allowed_fields=ALLOWED, allowed_env_vars=None)
    message = str(caught.value)
    assert "code_location.pod_spec_config.serviceAccountName: not allowed" in message
    assert "code_location.namespace: not allowed" in message
    assert "op_tags.pod_spec_config.hostNetwork: not allowed" in message


def test_same_verdict_as_dagster_k8s() -> None:
    tags = run_tags({"container_config": {"image_pull_policy": "Always"}})
    context = K8sContainerContext(
        run_k8s_config=K8sContainerContext.create_for_run(
            DagsterRun(job_name="j", run_id="r", tags=tags), None, include_run_tags=True
        ).run_k8s_config
    )
    with pytest.raises(Exception, match=r"container_config\.image_pull_policy"):
        context.validate_user_k8s_config_for_run(ALLOWED, None)
    with pytest.raises(ConfigError, match=r"run_tags\.container_config\.imagePullPolicy"):
        enforce_allowlist(build_run_layers(run_tags=tags), allowed_fields=ALLOWED, allowed_env_vars=None)


def test_env_vars_outside_the_allowlist_are_dropped_from_user_layers_only() -> None:
    layers = build_run_layers(
        launcher_config={"env_vars": ["OPERATOR=1"]},
        container_context={"k8s": {"env_vars": ["USER=ssup2", "SNEAKY=1"]}},
    )
    checked, removed = enforce_allowlist(layers, allowed_fields=None, allowed_env_vars=["USER"])
    launcher, location, _ = checked
    assert [item["name"] for item in location.config.container_config["env"]] == ["USER"]
    assert {"name": "OPERATOR", "value": "1"} in launcher.config.container_config["env"]
    assert removed == ["SNEAKY"]
