"""An external K8s Job that is still running when its op stops waiting must not outlive it:
the op interrupted (run terminated) or its `timeout` passed both delete the K8s Job and its pod,
even with `delete_failed_k8s_jobs=False` (that flag is about K8s Jobs that ended in failure)."""

# No `from __future__ import annotations`: Dagster checks the op context annotation at runtime.

import time
from pathlib import Path
from typing import Any

import pytest
from dagster import OpExecutionContext, job, op

from dagster_ext.k8s import execute_k8s_job
from tests.integration.k8s_job.harness import (
    dagster_instance,
    external_k8s_jobs,
    external_pods,
    interrupt_and_assert_k8s_job_deleted,
    op_config,
    run_in_background,
    step_failure_text,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
SCRIPT = Path(__file__).with_name("interrupted_run.py")


def wait_until_no_external_pods(k8s_cluster: Any, namespace: str, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while external_pods(k8s_cluster, namespace):
        assert time.monotonic() < deadline, "external pods left behind"
        time.sleep(0.2)


def test_interrupting_the_op_deletes_the_running_k8s_job(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    interrupt_and_assert_k8s_job_deleted(k8s_cluster, k8s_namespace, SCRIPT, tmp_path)
    wait_until_no_external_pods(k8s_cluster, k8s_namespace, timeout_s=60)


def test_timeout_fails_the_op_and_deletes_the_running_k8s_job(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    config = op_config(k8s_cluster.kubeconfig_path)

    @op
    def call_with_timeout(context: OpExecutionContext) -> None:
        # the function form, from a user's own op; the pod never finishes on its own
        execute_k8s_job(
            context,
            config["image"],
            command=["sleep", "300"],
            load_incluster_config=False,
            kubeconfig_file=config["kubeconfig_file"],
            timeout=5,
            delete_failed_k8s_jobs=False,
        )

    @job
    def timed() -> None:
        call_with_timeout()

    with dagster_instance(k8s_namespace, k8s_cluster.kubeconfig_path, tmp_path) as instance:
        result = run_in_background(timed, instance, {}).join(120)
    assert not result.success
    text = step_failure_text(result)
    assert "did not finish within timeout=5s" in text, text
    wait_until_no_external_pods(k8s_cluster, k8s_namespace, timeout_s=60)
    assert external_k8s_jobs(k8s_cluster, k8s_namespace) == []
