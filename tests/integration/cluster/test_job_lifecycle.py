"""A Job's life on the cluster: success with logs, failure with the exit code, Foreground deletion."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dagster_ext.testing.job_manifests import JOB_NAME_LABEL, job_manifest
from dagster_ext.testing.pytest_plugin import K8sCluster
from dagster_ext.testing.waiting import job_condition, wait_for, wait_for_named, wait_until_gone

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


def _finished(k8s_cluster: K8sCluster, namespace: str, name: str) -> Any:
    return wait_for_named(
        k8s_cluster.batch_v1.list_namespaced_job,
        namespace,
        name,
        lambda k8s_job: job_condition(k8s_job) is not None,
        timeout_s=60,
        what=f"Job {name} to finish",
    )


def test_job_completes_and_its_log_is_readable(
    k8s_cluster: K8sCluster, k8s_namespace: str, pod_of_job: Callable[[str], Any]
) -> None:
    k8s_cluster.batch_v1.create_namespaced_job(
        k8s_namespace, job_manifest("hello", ["python", "-c", "print('hi')"])
    )
    assert job_condition(_finished(k8s_cluster, k8s_namespace, "hello")) == "Complete"
    pod = pod_of_job("hello")
    assert pod.status.phase == "Succeeded"
    assert k8s_cluster.pod_log(pod.metadata.name, k8s_namespace) == "hi\n"


def test_failing_command_fails_the_job_with_its_exit_code(
    k8s_cluster: K8sCluster, k8s_namespace: str, pod_of_job: Callable[[str], Any]
) -> None:
    command = ["python", "-c", "import sys; print('bad input'); sys.exit(3)"]
    k8s_cluster.batch_v1.create_namespaced_job(k8s_namespace, job_manifest("fails", command))
    assert job_condition(_finished(k8s_cluster, k8s_namespace, "fails")) == "Failed"
    pod = pod_of_job("fails")
    assert pod.status.phase == "Failed"
    terminated = pod.status.container_statuses[0].state.terminated
    assert terminated.exit_code == 3
    assert terminated.reason == "Error"
    assert k8s_cluster.pod_log(pod.metadata.name, k8s_namespace) == "bad input\n"


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_foreground_delete_kills_the_process_and_removes_the_pod(
    k8s_cluster: K8sCluster, k8s_namespace: str
) -> None:
    marker = f"dagster-ext-test-{uuid.uuid4().hex}"  # in argv, to find the process on the local node
    script = "import sys, time; print('started', flush=True); time.sleep(600)"
    k8s_cluster.batch_v1.create_namespaced_job(
        k8s_namespace, job_manifest("sleeper", ["python", "-c", script, marker])
    )
    pod = wait_for(
        k8s_cluster.core_v1.list_namespaced_pod,
        k8s_namespace,
        lambda p: p.status.phase == "Running",
        timeout_s=60,
        what="the sleeper pod to run",
        label_selector=f"{JOB_NAME_LABEL}=sleeper",
    )
    _wait_for_log(k8s_cluster, k8s_namespace, pod.metadata.name, "started")
    if k8s_cluster.is_local:
        assert _processes_with(marker), "the pod's process should be running on the local node"

    k8s_cluster.batch_v1.delete_namespaced_job("sleeper", k8s_namespace, propagation_policy="Foreground")
    wait_until_gone(
        lambda: k8s_cluster.batch_v1.read_namespaced_job("sleeper", k8s_namespace),
        timeout_s=60,
        what="Job sleeper",
    )
    pods = k8s_cluster.core_v1.list_namespaced_pod(k8s_namespace, label_selector=f"{JOB_NAME_LABEL}=sleeper")
    assert pods.items == []
    if k8s_cluster.is_local:
        assert _processes_with(marker) == []


def _wait_for_log(k8s_cluster: K8sCluster, namespace: str, pod_name: str, text: str) -> None:
    deadline = time.monotonic() + 30
    log = ""
    while time.monotonic() < deadline:
        log = k8s_cluster.pod_log(pod_name, namespace)
        if text in log:
            return
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in the log of {pod_name} after 30s: {log!r}")
