"""`k8s_job_op` end to end: a Dagster job run in process, its external K8s Job on the cluster.

The K8s Job's pod must start from the step's pod configuration (launcher layer, job tag, op tag),
take the op's overrides, stream its log into the run while it runs, and fail the op with a named
reason; bad config must fail before any K8s Job exists.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from dagster import job

from dagster_ext.k8s import k8s_job_op
from dagster_ext.k8s.spec.owners import POD_NAME_ENV, POD_NAMESPACE_ENV, POD_UID_ENV
from tests.integration.k8s_job.harness import (
    assert_created_k8s_job_deleted,
    dagster_instance,
    external_k8s_jobs,
    external_pods,
    log_messages,
    op_config,
    run_in_background,
    step_failure_text,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

JOB_TAG = {
    "dagster-k8s/config": {
        "pod_spec_config": {"tolerations": [{"key": "dedicated", "operator": "Exists"}]},
        "container_config": {"env": [{"name": "FROM_JOB", "value": "job-tag"}]},
    }
}
OP_TAG = {"dagster-k8s/config": {"container_config": {"env": [{"name": "FROM_OP", "value": "op-tag"}]}}}


@job(tags=JOB_TAG)
def external_work() -> None:
    k8s_job_op.alias("work").tag(OP_TAG)()


def wait_for(predicate: Any, *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_k8s_job_inherits_the_step_pod_streams_its_log_and_completes(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = k8s_cluster.core_v1.create_namespaced_pod(
        k8s_namespace,
        {
            "metadata": {"name": "run-pod"},
            "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "300"]}]},
        },
    )
    for key, value in ((POD_NAME_ENV, "run-pod"), (POD_NAMESPACE_ENV, k8s_namespace)):
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(POD_UID_ENV, owner.metadata.uid)
    signal = "/tmp/go-on"  # created in the container by an exec once the first line has arrived
    script = (
        f"echo first-line; while [ ! -e {signal} ]; do sleep 0.1; done; "
        'echo second-line; echo "env: $FROM_JOB $FROM_OP $OVERRIDE"'
    )
    config = op_config(
        k8s_cluster.kubeconfig_path,
        command=["/bin/sh", "-c", script],
        env_vars=["OVERRIDE=op-config"],
        resources={"limits": {"cpu": "500m", "memory": "1Gi"}},
        labels={"team": "data"},
    )
    with dagster_instance(k8s_namespace, k8s_cluster.kubeconfig_path, tmp_path) as instance:
        run = run_in_background(external_work, instance, {"ops": {"work": {"config": config}}})
        try:
            wait_for(lambda: "first-line" in log_messages(instance), timeout_s=120, what="first-line")
            # The pod cannot have finished: it waits for the signal file, written only now.
            (pod,) = external_pods(k8s_cluster, k8s_namespace)
            assert pod.status.phase == "Running"
            assert "second-line" not in log_messages(instance)
        finally:
            _exec(k8s_cluster, k8s_namespace, external_pods(k8s_cluster, k8s_namespace), ["touch", signal])
        result = run.join(timeout_s=120)
        assert result.success, step_failure_text(result) if not result.success else ""
        messages = log_messages(instance)
    assert "env: job-tag op-tag op-config" in messages
    assert messages.index("first-line") < messages.index("second-line")
    (k8s_job,) = external_k8s_jobs(k8s_cluster, k8s_namespace)
    assert k8s_job.status.succeeded == 1
    assert [(o.kind, o.name, o.uid) for o in k8s_job.metadata.owner_references] == [
        ("Pod", "run-pod", owner.metadata.uid)
    ]
    assert k8s_job.metadata.labels["team"] == "data"
    assert k8s_job.metadata.labels["dagster/op"] == "work"
    spec = pod.spec
    assert spec.node_selector == {"node-group.dp.ssup2": "worker"}  # run launcher layer
    assert [(t.key, t.operator) for t in spec.tolerations or [] if t.key == "dedicated"] == [
        ("dedicated", "Exists")
    ]  # job tag
    container = spec.containers[0]
    assert container.resources.limits == {"cpu": "500m", "memory": "1Gi"}  # op config beats launcher
    assert container.resources.requests == {"cpu": "100m", "memory": "256Mi"}  # launcher
    assert container.image_pull_policy == "IfNotPresent"  # launcher
    env = {e.name: e.value for e in container.env}
    assert env == {"FROM_JOB": "job-tag", "FROM_OP": "op-tag", "OVERRIDE": "op-config"}


def _exec(k8s_cluster: Any, namespace: str, pods: list[Any], command: list[str]) -> None:
    """Run `command` in the pod's container through the API (exec), as `kubectl exec` does."""
    from kubernetes.stream import stream

    for pod in pods:
        stream(
            k8s_cluster.core_v1.connect_get_namespaced_pod_exec,
            pod.metadata.name,
            namespace,
            command=command,
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
        )


def test_failing_command_fails_the_op_with_exit_code_and_log_tail(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    script = "echo preparing; echo 'cannot open input.csv' >&2; exit 3"
    config = op_config(k8s_cluster.kubeconfig_path, command=["/bin/sh", "-c", script])
    with dagster_instance(k8s_namespace, k8s_cluster.kubeconfig_path, tmp_path) as instance:
        result = run_in_background(external_work, instance, {"ops": {"work": {"config": config}}}).join(120)
        messages = log_messages(instance)
    assert not result.success
    text = step_failure_text(result)
    assert "NonZeroExit" in text and "exited with code 3" in text, text
    assert "cannot open input.csv" in text, text  # the log tail, quoted
    assert "preparing" in messages  # streamed into the run's log too
    # delete_failed_k8s_jobs defaults to true, as in dagster-k8s
    assert_created_k8s_job_deleted(k8s_cluster, k8s_namespace, messages)


def test_oom_fails_the_op_with_oomkilled_and_keeps_the_k8s_job_when_asked(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    allocate = "head -c 1024m /dev/zero | tail"  # tail holds it all: the kernel OOM-kills it
    config = op_config(
        k8s_cluster.kubeconfig_path,
        command=["/bin/sh", "-c", allocate],
        resources={"limits": {"memory": "128Mi"}, "requests": {"memory": "64Mi"}},
        delete_failed_k8s_jobs=False,
    )
    with dagster_instance(k8s_namespace, k8s_cluster.kubeconfig_path, tmp_path) as instance:
        result = run_in_background(external_work, instance, {"ops": {"work": {"config": config}}}).join(120)
    assert not result.success
    text = step_failure_text(result)
    assert "OOMKilled" in text, text
    (k8s_job,) = external_k8s_jobs(k8s_cluster, k8s_namespace)  # kept: delete_failed_k8s_jobs=False
    assert k8s_job.metadata.labels["app.kubernetes.io/component"] == "k8s_job"


def test_bad_config_key_fails_before_any_k8s_job_exists(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    config = op_config(
        k8s_cluster.kubeconfig_path,
        command=["/bin/sh", "-c", "echo never"],
        pod_spec_config={"nodeSelectr": {"disk": "ssd"}},
    )
    with dagster_instance(k8s_namespace, k8s_cluster.kubeconfig_path, tmp_path) as instance:
        result = run_in_background(external_work, instance, {"ops": {"work": {"config": config}}}).join(120)
    assert not result.success
    text = step_failure_text(result)
    assert "ops.work.config.pod_spec_config.nodeSelectr" in text, text
    assert "did you mean 'nodeSelector'" in text, text
    assert external_k8s_jobs(k8s_cluster, k8s_namespace) == []
    assert external_pods(k8s_cluster, k8s_namespace) == []
