"""`k8s_job_op` inside a real run pod (our launcher, PostgreSQL storage): the external K8s Job is
owned by the run pod through the downward-API env vars (no GET of the pod), inherits the run pod's
layers (launcher node selector, code location env, job tag), and its log reaches the run's events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dagster_ext.testing.deployment import CodeLocation
from tests.integration.k8s_job.harness import external_k8s_jobs, external_pods

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(300)]
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def test_external_k8s_job_is_owned_by_the_run_pod_it_was_started_from(
    dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str
) -> None:
    deployment = dagster_deployment(
        location=CodeLocation(
            python_file=str(HERE / "code_location.py"),
            working_directory=str(ROOT),
            container_context={"k8s": {"env": [{"name": "USER", "value": "ssup2"}]}},
        )
    )
    config = {
        "image": "busybox",
        "command": ["/bin/sh", "-c", 'echo "hello from $USER and $FROM_JOB"'],
    }  # no connection keys: from the run pod, in-cluster with its ServiceAccount
    run_id = deployment.launch("external_from_run_pod", run_config={"ops": {"external": {"config": config}}})
    run = deployment.wait_for_run(run_id, timeout_s=240)
    messages = deployment.event_messages(run_id)
    assert run.status.value == "SUCCESS", messages[-30:]
    assert "hello from ssup2 and job-tag" in messages
    run_pods = k8s_cluster.core_v1.list_namespaced_pod(
        k8s_namespace, label_selector=f"dagster/run-id={run_id},app.kubernetes.io/component=run_worker"
    ).items
    (run_pod,) = run_pods
    (k8s_job,) = external_k8s_jobs(k8s_cluster, k8s_namespace)
    owners = [(o.kind, o.name, o.uid) for o in k8s_job.metadata.owner_references or []]
    assert owners == [("Pod", run_pod.metadata.name, run_pod.metadata.uid)]
    (pod,) = external_pods(k8s_cluster, k8s_namespace)
    assert pod.spec.node_selector == {"node-group.dp.ssup2": "worker"}
    env = {e.name: e.value for e in pod.spec.containers[0].env}
    assert env == {"USER": "ssup2", "FROM_JOB": "job-tag"}  # no Dagster or downward-API env leaks in
