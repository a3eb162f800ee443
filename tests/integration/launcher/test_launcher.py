"""The K8s run launcher end to end: PostgreSQL storage, a `dagster api grpc` code location, the
local cluster (or any cluster given by --kubeconfig), runs submitted with `dagster job launch`."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

from dagster_ext.testing.deployment import CodeLocation
from dagster_ext.testing.waiting import job_condition, wait_for_named, wait_until_gone
from tests.integration.step_jobs import SEED_LIMITS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
USER_CONTEXT = {"k8s": {"env": [{"name": "USER", "value": "ssup2"}]}}


def location() -> CodeLocation:
    return CodeLocation(
        python_file=str(ROOT / "tests" / "integration" / "code_location.py"),
        working_directory=str(ROOT),
        container_context=USER_CONTEXT,
    )


def finished_run_k8s_job(k8s_cluster: Any, namespace: str, run_id: str) -> Any:
    """The run's K8s Job once it has a Complete/Failed condition (the pod exits after the run ends)."""
    return wait_for_named(
        k8s_cluster.batch_v1.list_namespaced_job,
        namespace,
        f"dagster-run-{run_id}",
        lambda job: job_condition(job) is not None,
        timeout_s=60,
    )


def run_pod(k8s_cluster: Any, namespace: str, run_id: str) -> Any:
    pods = k8s_cluster.core_v1.list_namespaced_pod(namespace, label_selector=f"job-name=dagster-run-{run_id}")
    assert len(pods.items) == 1
    return pods.items[0]


def test_process_numbers_runs_in_a_k8s_job(
    dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str
) -> None:
    deployment = dagster_deployment(location=location())
    run_id = deployment.launch("process_numbers")
    run = deployment.wait_for_run(run_id)
    assert run.status.value == "SUCCESS", deployment.event_messages(run_id)[-20:]

    result = deployment.home / "storage" / run_id / "sum_two_sums" / "result"
    assert pickle.loads(result.read_bytes()) == 55

    k8s_job = finished_run_k8s_job(k8s_cluster, k8s_namespace, run_id)
    assert job_condition(k8s_job) == "Complete" and k8s_job.status.succeeded == 1
    pod = run_pod(k8s_cluster, k8s_namespace, run_id)
    assert pod.spec.node_selector == {"node-group.dp.ssup2": "worker"}  # instance run_k8s_config
    container = pod.spec.containers[0]
    assert container.name == "dagster"
    # the job tag (seed Code 1) overrides the instance's default resources
    assert container.resources.limits in SEED_LIMITS
    env = {e.name: e for e in container.env}
    assert env["USER"].value == "ssup2"  # from the code location's container context
    assert env["DAGSTER_PG_PASSWORD"].value_from.secret_key_ref.name == "dagster-postgresql-secret"
    assert env["DAGSTER_RUN_JOB_NAME"].value == "process_numbers"
    messages = deployment.event_messages(run_id)
    assert any(f"dagster-run-{run_id}" in m and k8s_namespace in m for m in messages)


def test_code_location_env_reaches_the_op(dagster_deployment: Any) -> None:
    deployment = dagster_deployment(location=location())
    run_id = deployment.launch("env_probe")
    run = deployment.wait_for_run(run_id)
    assert run.status.value == "SUCCESS"
    assert "USER=ssup2" in deployment.event_messages(run_id)


def test_malformed_run_tag_fails_before_any_k8s_job(
    dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str
) -> None:
    deployment = dagster_deployment(location=location())
    bad = {"dagster-k8s/config": {"pod_spec_config": {"nodeSelectr": {"a": "b"}}}}
    with pytest.raises(Exception, match="nodeSelectr"):
        deployment.launch("process_numbers", tags=bad)
    assert k8s_cluster.batch_v1.list_namespaced_job(k8s_namespace).items == []


def test_oom_killed_run_worker_fails_the_run_with_the_reason(dagster_deployment: Any) -> None:
    deployment = dagster_deployment(location=location(), daemon=True)
    tags = {"dagster-k8s/config": {"container_config": {"resources": {"limits": {"memory": "512Mi"}}}}}
    run_id = deployment.launch("memory_hog", tags=tags)
    run = deployment.wait_for_run(run_id, timeout_s=120)
    assert run.status.value == "FAILURE"
    assert any("OOMKilled" in m for m in deployment.event_messages(run_id))


def test_unpullable_image_fails_within_the_start_timeout(dagster_deployment: Any) -> None:
    monitoring = {"start_timeout_seconds": 15}
    deployment = dagster_deployment(location=location(), daemon=True, monitoring=monitoring)
    tags = {"dagster-k8s/config": {"container_config": {"image": "registry.invalid/unpullable/image:1"}}}
    run_id = deployment.launch("process_numbers", tags=tags)
    run = deployment.wait_for_run(run_id, timeout_s=90)
    assert run.status.value == "FAILURE"
    assert any("ImagePullBackOff" in m or "ErrImagePull" in m for m in deployment.event_messages(run_id))


def test_terminate_deletes_the_k8s_job_and_cancels(
    dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str
) -> None:
    deployment = dagster_deployment(location=location())
    run_id = deployment.launch("sleepy")
    deployment.wait_for_run(run_id, statuses={"STARTED"}, timeout_s=60)
    instance = deployment.instance()
    try:
        assert instance.run_launcher.terminate(run_id)
    finally:
        instance.dispose()
    run = deployment.wait_for_run(run_id, timeout_s=60)
    assert run.status.value == "CANCELED"
    # Foreground deletion: the K8s Job goes once its pod is gone; nothing is orphaned.
    wait_until_gone(
        lambda: k8s_cluster.batch_v1.read_namespaced_job(f"dagster-run-{run_id}", k8s_namespace),
        timeout_s=60,
        what="the run K8s Job",
    )
    pods = k8s_cluster.core_v1.list_namespaced_pod(k8s_namespace, label_selector=f"dagster/run-id={run_id}")
    assert pods.items == []


def test_killed_run_worker_is_retried(dagster_deployment: Any) -> None:
    deployment = dagster_deployment(location=location(), daemon=True)
    run_id = deployment.launch("crash_once")
    first = deployment.wait_for_run(run_id, timeout_s=90)
    assert first.status.value == "FAILURE"
    instance = deployment.instance()
    try:
        import time

        deadline = time.monotonic() + 90
        retried = None
        while time.monotonic() < deadline and retried is None:
            from dagster import RunsFilter

            runs = instance.get_runs(RunsFilter(tags={"dagster/parent_run_id": run_id}))
            retried = runs[0] if runs else None
            time.sleep(0.5)
    finally:
        instance.dispose()
    assert retried is not None, "no retry run was launched"
    assert deployment.wait_for_run(retried.run_id, timeout_s=120).status.value == "SUCCESS"


def test_a_dagster_k8s_config_using_every_key_works_with_only_module_changed(
    dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    """A dagster-k8s launcher config that sets every dagster-k8s key, under `module: dagster_ext.k8s`."""
    from kubernetes import client

    core = k8s_cluster.core_v1
    meta = client.V1ObjectMeta
    core.create_namespaced_config_map(
        k8s_namespace, client.V1ConfigMap(metadata=meta(name="dagster-env"), data={"FROM_CM": "cm"})
    )
    core.create_namespaced_secret(
        k8s_namespace,
        client.V1Secret(metadata=meta(name="dagster-secret-env"), string_data={"FROM_SECRET": "s"}),
    )
    core.create_namespaced_service_account(
        k8s_namespace, client.V1ServiceAccount(metadata=meta(name="dagster"))
    )
    home = tmp_path / "home"
    config = {
        "job_image": "dagster-ext/local:dev",
        "image_pull_policy": "IfNotPresent",
        "image_pull_secrets": [{"name": "regcred"}],
        "service_account_name": "dagster",
        "env_config_maps": ["dagster-env"],
        "env_secrets": ["dagster-secret-env"],
        "env_vars": ["FROM_LAUNCHER=yes"],
        "volume_mounts": [{"name": "scratch", "mount_path": "/tmp/dagster-ext-scratch", "read_only": False}],
        "volumes": [{"name": "scratch", "empty_dir": {}}],
        "labels": {"team": "data"},
        "resources": {"limits": {"cpu": "1", "memory": "2Gi"}},
        "scheduler_name": "default-scheduler",
        "security_context": {"run_as_user": 0},
        "instance_config_map": "dagster-instance",
        "postgres_password_secret": "dagster-postgresql-secret",
        "dagster_home": str(home),
        "load_incluster_config": False,
        "kubeconfig_file": str(k8s_cluster.kubeconfig_path),
        "k8s_api_ssl_ca_cert_file": None,
        "fail_pod_on_run_failure": True,
        "run_k8s_config": {"pod_spec_config": {"nodeSelector": {"node-group.dp.ssup2": "worker"}}},
        "job_namespace": k8s_namespace,
        "only_allow_user_defined_k8s_config_fields": {"container_config": {"resources": True, "env": True}},
        "only_allow_user_defined_env_vars": ["USER"],
    }
    from dagster_k8s import K8sRunLauncher as PeerLauncher

    assert set(config) == set(PeerLauncher.config_type())
    deployment = dagster_deployment(location=location(), launcher_config=config, home=home)
    run_id = deployment.launch("process_numbers")
    assert deployment.wait_for_run(run_id).status.value == "SUCCESS", deployment.event_messages(run_id)[-20:]
    pod = run_pod(k8s_cluster, k8s_namespace, run_id)
    assert pod.spec.service_account_name == "dagster"
    assert pod.spec.image_pull_secrets[0].name == "regcred"
    assert pod.metadata.labels["team"] == "data"
    container = pod.spec.containers[0]
    env = {e.name: e.value for e in container.env}
    assert env["FROM_LAUNCHER"] == "yes" and env["USER"] == "ssup2"
    assert {s.config_map_ref.name for s in container.env_from if s.config_map_ref} == {"dagster-env"}
    assert {s.secret_ref.name for s in container.env_from if s.secret_ref} == {"dagster-secret-env"}
    assert container.volume_mounts[0].mount_path == "/tmp/dagster-ext-scratch"
    assert container.resources.limits in SEED_LIMITS  # the job tag (allowed) beats the launcher default
    assert pod.spec.node_selector == {"node-group.dp.ssup2": "worker"}
