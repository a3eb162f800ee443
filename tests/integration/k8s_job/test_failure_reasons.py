"""Failure reasons written by the real node's components (kernel, kubelet, containerd, kube-scheduler,
Job controller), named by `k8s_job_op` — with the pod and container where they apply — from the pod's terminal
state, or after the configured grace for a pod that never starts. How fast is a benchmark figure."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from dagster import job

from dagster_ext.k8s import k8s_job_op
from tests.integration.k8s_job.harness import (
    dagster_instance,
    external_pods,
    op_config,
    run_in_background,
    step_failure_text,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
GRACE = {"image_pull": 0, "unschedulable": 2, "container_config": 2}
SECRET_KEY = {"name": "no-such-secret", "key": "password"}  # the classic env_secrets mistake


@job
def external() -> None:
    k8s_job_op.alias("external")()


def _run(k8s_cluster: Any, namespace: str, tmp_path: Path, **keys: Any) -> tuple[Any, float]:
    """Run the op; returns the result and when (epoch seconds) the run ended."""
    config = op_config(k8s_cluster.kubeconfig_path, failure_grace_seconds=GRACE, **keys)
    with dagster_instance(namespace, k8s_cluster.kubeconfig_path, tmp_path) as instance:
        result = run_in_background(external, instance, {"ops": {"external": {"config": config}}}).join(200)
        failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        (record,) = [
            r for r in instance.all_logs(result.run_id) if r.dagster_event and r.dagster_event.is_step_failure
        ]
    assert failures and not result.success
    return result, record.timestamp


def _finished_at(k8s_cluster: Any, namespace: str) -> float | None:
    """When the external pod's container terminated, if the pod is still there to say."""
    for pod in external_pods(k8s_cluster, namespace):
        for status in pod.status.container_statuses or []:
            terminated = status.state.terminated
            if terminated is not None and terminated.finished_at is not None:
                return datetime.timestamp(terminated.finished_at)
    return None


@pytest.mark.parametrize(
    ("keys", "words"),
    [
        pytest.param(
            {
                "command": ["sh", "-c", "head -c 300m /dev/zero | tail"],
                "resources": {"requests": {"memory": "16Mi"}, "limits": {"memory": "32Mi"}},
            },
            ("OOMKilled", "32Mi"),
            id="oom_killed",
        ),
        pytest.param(
            {"command": ["sh", "-c", "exit 7"]}, ("NonZeroExit", "exited with code 7"), id="exit_code"
        ),
    ],
)
def test_terminated_container_is_named_from_the_pod(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path, keys: dict[str, Any], words: tuple[str, ...]
) -> None:
    result, failed_at = _run(k8s_cluster, k8s_namespace, tmp_path, delete_failed_k8s_jobs=False, **keys)
    text = step_failure_text(result)
    for word in words:
        assert word in text, text
    finished = _finished_at(k8s_cluster, k8s_namespace)
    assert finished is not None
    # A hang guard; how fast the end is seen is measured in bench/, not bounded here.
    assert failed_at - finished < 30.0, (failed_at - finished, text)


@pytest.mark.parametrize(
    ("keys", "words"),
    [
        pytest.param({"image": "Not A Valid/Image:Name"}, ("InvalidImageName",), id="invalid_image_name"),
        pytest.param({"image": "registry.invalid/none/such:1"}, ("ErrImagePull",), id="err_image_pull"),
        pytest.param(
            {"container_config": {"env": [{"name": "X", "valueFrom": {"secretKeyRef": SECRET_KEY}}]}},
            ("CreateContainerConfigError",),
            id="create_container_config_error",
        ),
        pytest.param(
            {"pod_spec_config": {"nodeSelector": {"no-such-label": "x"}}},
            ("Unschedulable", "0/1 nodes are available", "node affinity/selector"),
            id="unschedulable_node_selector",
        ),
        pytest.param(
            {"resources": {"requests": {"cpu": "64"}, "limits": {"cpu": "64"}}},
            ("Unschedulable", "Insufficient cpu"),
            id="unschedulable_requests_above_capacity",
        ),
    ],
)
def test_pod_that_never_starts_is_named_within_its_grace(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path, keys: dict[str, Any], words: tuple[str, ...]
) -> None:
    started = time.monotonic()
    result, _ = _run(k8s_cluster, k8s_namespace, tmp_path, command=["sh", "-c", "echo never"], **keys)
    elapsed = time.monotonic() - started
    text = step_failure_text(result)
    for word in words:
        assert word in text, text
    assert elapsed < 60, elapsed  # grace 0-2 s plus the time the node takes to say it


def test_ephemeral_storage_over_its_limit_is_evicted_by_the_kubelet(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    keys = {
        "command": ["sh", "-c", "head -c 64m /dev/zero > /tmp/fill; sleep 120"],
        "resources": {"limits": {"ephemeral-storage": "8Mi"}, "requests": {"ephemeral-storage": "4Mi"}},
    }
    result, _ = _run(k8s_cluster, k8s_namespace, tmp_path, **keys)
    text = step_failure_text(result)
    assert "evicted" in text, text
    assert "EphemeralStorageExceeded" in text and "exceeds the total limit of containers 8Mi" in text, text


def test_the_failure_event_carries_the_diagnosis_and_diagnose_names_it_on_the_live_k8s_job(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    keys = {
        "command": ["sh", "-c", "head -c 300m /dev/zero | tail"],
        "resources": {"requests": {"memory": "16Mi"}, "limits": {"memory": "32Mi"}},
        "delete_failed_k8s_jobs": False,
    }
    result, _ = _run(k8s_cluster, k8s_namespace, tmp_path, **keys)
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    user_failure = failure.step_failure_data.user_failure_data
    assert user_failure is not None
    metadata = {key: value.value for key, value in user_failure.metadata.items()}
    (pod,) = external_pods(k8s_cluster, k8s_namespace)
    assert metadata["reason"] == "OOMKilled"
    assert metadata["category"] == "resources"
    assert metadata["pod"] == pod.metadata.name
    assert metadata["container"] == "dagster"
    assert metadata["node"] == pod.spec.node_name
    job_name = pod.metadata.labels["batch.kubernetes.io/job-name"]
    argv = [sys.executable, "-m", "dagster_ext.cli", "diagnose", job_name, "-n", k8s_namespace]
    out = subprocess.run(
        [*argv, "--kubeconfig", str(k8s_cluster.kubeconfig_path), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 1, out.stdout + out.stderr  # something failed
    assert '"OOMKilled"' in out.stdout, out.stdout
