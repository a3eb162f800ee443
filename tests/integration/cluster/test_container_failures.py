"""Failures a kubelet reports: memory limit exceeded (OOMKilled, 137) and an image that cannot be pulled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dagster_ext.testing.job_manifests import JOB_NAME_LABEL, job_manifest
from dagster_ext.testing.pytest_plugin import K8sCluster
from dagster_ext.testing.waiting import job_condition, wait_for, wait_for_named

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]

HOG = """
import time
chunks = []
while True:
    chunks.append(b"x" * (16 * 2**20))  # written, so really resident
    time.sleep(0.02)
"""


def test_process_over_its_memory_limit_is_oom_killed(
    k8s_cluster: K8sCluster, k8s_namespace: str, pod_of_job: Callable[[str], Any]
) -> None:
    limits = {"resources": {"limits": {"memory": "96Mi"}, "requests": {"memory": "96Mi"}}}
    k8s_cluster.batch_v1.create_namespaced_job(
        k8s_namespace, job_manifest("hog", ["python", "-c", HOG], container=limits)
    )
    finished = wait_for_named(
        k8s_cluster.batch_v1.list_namespaced_job,
        k8s_namespace,
        "hog",
        lambda j: job_condition(j) is not None,
        timeout_s=60,
    )
    assert job_condition(finished) == "Failed"
    terminated = pod_of_job("hog").status.container_statuses[0].state.terminated
    assert (terminated.reason, terminated.exit_code) == ("OOMKilled", 137)


def _waiting_reason(pod: Any) -> str | None:
    statuses = pod.status.container_statuses or []
    waiting = statuses[0].state.waiting if statuses else None
    return waiting.reason if waiting else None


def test_unpullable_image_backs_off_with_an_event_and_never_runs(
    k8s_cluster: K8sCluster, k8s_namespace: str
) -> None:
    image = "registry.invalid/dagster-ext/does-not-exist:1.0"
    manifest = job_manifest("nopull", ["python", "-c", "print('must not run')"], image=image)
    k8s_cluster.batch_v1.create_namespaced_job(k8s_namespace, manifest)
    pod = wait_for(
        k8s_cluster.core_v1.list_namespaced_pod,
        k8s_namespace,
        lambda p: _waiting_reason(p) == "ImagePullBackOff",
        timeout_s=90,
        what="ImagePullBackOff",
        label_selector=f"{JOB_NAME_LABEL}=nopull",
    )
    event = wait_for(
        k8s_cluster.core_v1.list_namespaced_event,
        k8s_namespace,
        lambda e: e.reason in ("Failed", "BackOff") and image in (e.message or ""),
        timeout_s=30,
        what="an image pull Event",
        field_selector=f"involvedObject.name={pod.metadata.name}",
    )
    assert event.type == "Warning"

    status = pod.status.container_statuses[0]
    assert status.state.running is None and status.state.terminated is None
    assert status.last_state.terminated is None and status.restart_count == 0
    events = k8s_cluster.core_v1.list_namespaced_event(
        k8s_namespace, field_selector=f"involvedObject.name={pod.metadata.name}"
    ).items
    assert "Started" not in {e.reason for e in events}
    k8s_job = k8s_cluster.batch_v1.read_namespaced_job("nopull", k8s_namespace)
    assert not k8s_job.status.succeeded and not k8s_job.status.failed
