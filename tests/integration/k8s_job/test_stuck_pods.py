"""K8s Jobs whose pod never runs: the op fails with the reason instead of waiting forever (as
dagster-k8s does without a `timeout`), and the K8s Job, which the Job controller would keep
retrying, is deleted even with `delete_failed_k8s_jobs=False`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dagster import job

from dagster_ext.k8s import k8s_job_op
from tests.integration.k8s_job.harness import (
    assert_created_k8s_job_deleted,
    dagster_instance,
    log_messages,
    op_config,
    run_in_background,
    step_failure_text,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@job
def stuck() -> None:
    k8s_job_op.alias("stuck")()


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"image": "registry.example/unpullable:1"}, ("ImagePullBackOff", "ErrImagePull")),
        ({"service_account_name": "no-such-account"}, ("FailedCreate",)),
    ],
    ids=["image_pull", "failed_create"],
)
def test_pod_that_never_runs_fails_the_op_with_its_reason(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path, keys: dict[str, Any], expected: tuple[str, ...]
) -> None:
    config = op_config(
        k8s_cluster.kubeconfig_path,
        command=["/bin/sh", "-c", "echo never"],
        delete_failed_k8s_jobs=False,
        failure_grace_seconds={"image_pull": 0},
        **keys,
    )
    with dagster_instance(k8s_namespace, k8s_cluster.kubeconfig_path, tmp_path) as instance:
        result = run_in_background(stuck, instance, {"ops": {"stuck": {"config": config}}}).join(180)
        messages = log_messages(instance)
    assert not result.success
    text = step_failure_text(result)
    assert any(reason in text for reason in expected), text
    if "service_account_name" in keys:
        assert "no-such-account" in text, text
    assert_created_k8s_job_deleted(k8s_cluster, k8s_namespace, messages)


def test_active_deadline_fails_the_op_with_deadline_exceeded(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    config = op_config(
        k8s_cluster.kubeconfig_path,
        command=["sleep", "300"],
        job_spec_config={"activeDeadlineSeconds": 3},
    )
    with dagster_instance(k8s_namespace, k8s_cluster.kubeconfig_path, tmp_path) as instance:
        result = run_in_background(stuck, instance, {"ops": {"stuck": {"config": config}}}).join(180)
    assert not result.success
    text = step_failure_text(result)
    assert "DeadlineExceeded" in text, text
