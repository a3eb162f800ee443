"""An external K8s Job that is still running when its op stops waiting must not outlive it:
the op interrupted (run terminated) or its `timeout` passed both delete the K8s Job and its pod,
even with `delete_failed_k8s_jobs=False` (that flag is about K8s Jobs that ended in failure)."""

# No `from __future__ import annotations`: Dagster checks the op context annotation at runtime.

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from dagster import OpExecutionContext, job, op

from dagster_ext.k8s import execute_k8s_job
from dagster_ext.testing.waiting import wait_until_gone
from tests.integration.k8s_job.harness import (
    dagster_instance,
    external_k8s_jobs,
    external_pods,
    op_config,
    run_in_background,
    step_failure_text,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
SCRIPT = Path(__file__).with_name("interrupted_run.py")


def wait_for_running_pod(k8s_cluster: Any, namespace: str, *, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        running = [p for p in external_pods(k8s_cluster, namespace) if p.status.phase == "Running"]
        if running:
            return running[0]
        assert time.monotonic() < deadline, "the external pod never ran"
        time.sleep(0.2)


def wait_until_no_external_pods(k8s_cluster: Any, namespace: str, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while external_pods(k8s_cluster, namespace):
        assert time.monotonic() < deadline, "external pods left behind"
        time.sleep(0.2)


def test_interrupting_the_op_deletes_the_running_k8s_job(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), k8s_namespace, str(k8s_cluster.kubeconfig_path), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_running_pod(k8s_cluster, k8s_namespace, timeout_s=120)
        (k8s_job,) = external_k8s_jobs(k8s_cluster, k8s_namespace)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "RUN SUCCESS=False" in output, output[-3000:]
    assert f"Deleted K8s Job {k8s_namespace}/{k8s_job.metadata.name}" in output, output[-3000:]
    wait_until_gone(
        lambda: k8s_cluster.batch_v1.read_namespaced_job(k8s_job.metadata.name, k8s_namespace),
        timeout_s=60,
        what=k8s_job.metadata.name,
    )
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
