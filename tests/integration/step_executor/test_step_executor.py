"""The K8s step executor end to end: our launcher + `k8s_job_executor`, PostgreSQL storage, the
local cluster. Step pods must inherit the run pod's spec and the job-level tags; failures are named."""

from __future__ import annotations

import pickle
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from dagster_ext.testing.deployment import CodeLocation
from dagster_ext.testing.waiting import wait_until_gone
from tests.integration.step_jobs import (
    SEED_LIMITS,
    SEED_REQUESTS,
    step_k8s_jobs,
    step_pods,
    wait_all_complete,
    wait_for_running_step_pods,
)

ROOT = Path(__file__).resolve().parents[3]
USER_CONTEXT = {"k8s": {"env": [{"name": "USER", "value": "ssup2"}]}}


def location() -> CodeLocation:
    return CodeLocation(
        python_file=str(ROOT / "tests" / "integration" / "code_location.py"),
        working_directory=str(ROOT),
        container_context=USER_CONTEXT,
    )


def assert_inherited_seed_spec(pods: list[Any]) -> None:
    for pod in pods:
        assert pod.spec.node_selector == {"node-group.dp.ssup2": "worker"}, pod.metadata.name
        container = pod.spec.containers[0]
        assert container.resources.limits in SEED_LIMITS, pod.metadata.name
        assert container.resources.requests in SEED_REQUESTS, pod.metadata.name
        env = {e.name: e for e in container.env}
        assert env["USER"].value == "ssup2"
        assert env["DAGSTER_PG_PASSWORD"].value_from.secret_key_ref.name == "dagster-postgresql-secret"
        assert "DAGSTER_RUN_STEP_KEY" in env


def test_process_numbers_ops_one_k8s_job_per_step(
    dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str
) -> None:
    deployment = dagster_deployment(location=location())
    run_id = deployment.launch("process_numbers_k8s")
    run = deployment.wait_for_run(run_id, timeout_s=240)
    assert run.status.value == "SUCCESS", deployment.event_messages(run_id)[-30:]
    result = deployment.home / "storage" / run_id / "sum_two_sums" / "result"
    assert pickle.loads(result.read_bytes()) == 55
    jobs = wait_all_complete(k8s_cluster, k8s_namespace, run_id, count=6)
    assert all(j.metadata.name.startswith("dagster-step-") for j in jobs)
    assert_inherited_seed_spec(step_pods(k8s_cluster, k8s_namespace, run_id))
    # Owned by the run pod (its UID from the downward API), so deleting the run cascades.
    run_selector = f"dagster/run-id={run_id},app.kubernetes.io/component=run_worker"
    run_pods = k8s_cluster.core_v1.list_namespaced_pod(k8s_namespace, label_selector=run_selector).items
    owners = {(o.kind, o.name, o.uid) for j in jobs for o in (j.metadata.owner_references or [])}
    assert owners == {("Pod", p.metadata.name, p.metadata.uid) for p in run_pods[:1]}, owners


def test_process_numbers_assets_inherit_job_tag_node_selector(
    dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str
) -> None:
    # The launcher sets no node selector here: it must come from the asset job's tag.
    deployment = dagster_deployment(location=location())
    config = deployment.launcher_config()
    config["run_k8s_config"] = {}
    deployment.rewrite_launcher_config(config)
    run_id = deployment.launch("process_numbers_asset_k8s")
    run = deployment.wait_for_run(run_id, timeout_s=240)
    assert run.status.value == "SUCCESS", deployment.event_messages(run_id)[-30:]
    result = deployment.home / "storage" / "examples" / "summed_two_sums"
    assert pickle.loads(result.read_bytes()) == 55
    wait_all_complete(k8s_cluster, k8s_namespace, run_id, count=6)
    assert_inherited_seed_spec(step_pods(k8s_cluster, k8s_namespace, run_id))


def _step_failure(deployment: Any, run_id: str) -> tuple[str, float]:
    instance = deployment.instance()
    try:
        for record in instance.all_logs(run_id):
            event = record.dagster_event
            if event is not None and event.event_type_value == "STEP_FAILURE":
                error = event.step_failure_data.error
                return (error.message if error else ""), record.timestamp
    finally:
        instance.dispose()
    raise AssertionError("no STEP_FAILURE event")


def test_oom_step_fails_named_from_the_pod(
    dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str
) -> None:
    deployment = dagster_deployment(location=location())
    run_id = deployment.launch("step_oom")
    assert deployment.wait_for_run(run_id, timeout_s=180).status.value == "FAILURE"
    message, failed_at = _step_failure(deployment, run_id)
    assert "OOMKilled" in message
    (pod,) = step_pods(k8s_cluster, k8s_namespace, run_id)
    finished = pod.status.container_statuses[0].state.terminated.finished_at
    assert isinstance(finished, datetime)
    # A hang guard, not a speed target (that is bench/step_executor.py's OOM figure): the watch
    # names the pod's end long before any Job-level deadline would.
    assert failed_at - finished.timestamp() < 30.0


def test_unpullable_step_image_fails_the_step(dagster_deployment: Any) -> None:
    deployment = dagster_deployment(location=location())
    run_id = deployment.launch("step_unpullable")
    assert deployment.wait_for_run(run_id, timeout_s=120).status.value == "FAILURE"
    message, _ = _step_failure(deployment, run_id)
    assert "ImagePullBackOff" in message or "ErrImagePull" in message


def test_missing_service_account_fails_with_failed_create(dagster_deployment: Any) -> None:
    deployment = dagster_deployment(location=location())
    run_id = deployment.launch("step_missing_sa")
    assert deployment.wait_for_run(run_id, timeout_s=120).status.value == "FAILURE"
    message, _ = _step_failure(deployment, run_id)
    assert "FailedCreate" in message and "no-such-account" in message


def test_retry_policy_runs_a_new_step_k8s_job(
    dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str
) -> None:
    deployment = dagster_deployment(location=location())
    run_id = deployment.launch("step_retry")
    assert deployment.wait_for_run(run_id, timeout_s=180).status.value == "SUCCESS"
    names = sorted(j.metadata.name for j in step_k8s_jobs(k8s_cluster, k8s_namespace, run_id))
    assert len(names) == 2 and names[1] == names[0] + "-1", names


def test_run_retry_relaunches_the_failed_run_with_new_step_k8s_jobs(
    dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str
) -> None:
    """`dagster/max_retries` (seed 001 Code 3): the daemon re-launches the failed run; its run pod
    and step K8s Jobs succeed (from failure: only the failed step runs again)."""
    from dagster import RunsFilter

    deployment = dagster_deployment(location=location(), daemon=True)
    run_id = deployment.launch("step_run_retry")
    assert deployment.wait_for_run(run_id, timeout_s=180).status.value == "FAILURE"
    instance = deployment.instance()
    try:
        deadline = time.monotonic() + 120
        retried = []
        while time.monotonic() < deadline and not retried:
            retried = instance.get_runs(RunsFilter(tags={"dagster/parent_run_id": run_id}))
            time.sleep(0.5)
    finally:
        instance.dispose()
    assert retried, "no retry run was launched"
    retry_id = retried[0].run_id
    run = deployment.wait_for_run(retry_id, timeout_s=240)
    assert run.status.value == "SUCCESS", deployment.event_messages(retry_id)[-30:]
    result = deployment.home / "storage" / retry_id / "fail_in_first_run" / "result"
    assert pickle.loads(result.read_bytes()) == 6
    jobs = wait_all_complete(k8s_cluster, k8s_namespace, retry_id, count=1)
    assert jobs[0].metadata.labels["dagster/op"] == "fail_in_first_run"
    run_jobs = k8s_cluster.batch_v1.list_namespaced_job(
        k8s_namespace, label_selector=f"dagster/run-id={retry_id},app.kubernetes.io/component=run_worker"
    ).items
    assert len(run_jobs) == 1


def test_terminating_the_run_removes_step_jobs_and_pods(
    dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str
) -> None:
    deployment = dagster_deployment(location=location())
    run_id = deployment.launch("step_sleepy")
    wait_for_running_step_pods(k8s_cluster, k8s_namespace, run_id, at_least=2)
    instance = deployment.instance()
    try:
        assert instance.run_launcher.terminate(run_id)
    finally:
        instance.dispose()
    assert deployment.wait_for_run(run_id, timeout_s=90).status.value == "CANCELED"
    for job in step_k8s_jobs(k8s_cluster, k8s_namespace, run_id):
        wait_until_gone(
            lambda name=job.metadata.name: k8s_cluster.batch_v1.read_namespaced_job(name, k8s_namespace),
            timeout_s=60,
            what=job.metadata.name,
        )
    deadline = time.monotonic() + 60
    while step_pods(k8s_cluster, k8s_namespace, run_id):
        assert time.monotonic() < deadline, "step pods left behind"
        time.sleep(0.5)
