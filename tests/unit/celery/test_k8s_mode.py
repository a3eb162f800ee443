"""`step_mode: k8s_job`: the task message's K8s part and the config keys it adds."""

from __future__ import annotations

import json

import pytest

from dagster_ext.celery.executor import executor_config_schema
from dagster_ext.celery.k8s_mode import K8sModeError, K8sStepSpec, k8s_mode_config_schema
from dagster_ext.k8s.client import ConnectionSettings
from dagster_ext.k8s.status import DiagnosisSettings


def spec() -> K8sStepSpec:
    return K8sStepSpec(
        namespace="ns",
        manifest={"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "dagster-step-abc"}},
        connection=ConnectionSettings(load_incluster_config=False, kubeconfig_file="/k/config"),
        diagnosis=DiagnosisSettings(image_pull_grace_s=0.0),
        log_tail_lines=5,
    )


def test_spec_survives_the_json_task_message() -> None:
    payload = json.loads(json.dumps(spec().to_payload()))
    again = K8sStepSpec.from_payload(payload)
    assert again == spec() and again.name == "dagster-step-abc"


def test_a_message_without_a_k8s_job_is_a_clear_error() -> None:
    with pytest.raises(K8sModeError, match="no step K8s Job"):
        K8sStepSpec.from_payload({})


def test_k8s_keys_are_the_step_executors_and_do_not_shadow_celery_keys() -> None:
    from dagster_ext.k8s.step_executor.config import executor_config_schema as step_schema

    k8s_keys = set(k8s_mode_config_schema())
    assert {"step_k8s_config", "per_step_k8s_config", "job_namespace", "job_image"} <= k8s_keys
    assert k8s_keys <= set(step_schema())
    celery_only = {"broker", "backend", "include", "config_source", "retries", "step_mode", "default_queue"}
    assert not (k8s_keys & celery_only)
    assert k8s_keys <= set(executor_config_schema())
