"""The failure taxonomy on pod/Job/Event dicts shaped like the API returns them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from dagster_ext.k8s.status import Diagnosis, DiagnosisSettings, FailureReason, K8sJobState, diagnose

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def ts(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def job(*, backoff_limit: int = 0, conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "dagster-step-abc"},
        "spec": {"backoffLimit": backoff_limit},
        "status": {"conditions": conditions or []},
    }


def pod(
    name: str = "dagster-step-abc-x1",
    *,
    phase: str = "Running",
    state: dict[str, Any] | None = None,
    created_ago: float = 100,
    conditions: list[dict[str, Any]] | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": phase,
        "startTime": ts(created_ago),
        "conditions": conditions or [],
        "containerStatuses": [{"name": "dagster", "state": state or {"running": {}}}],
    }
    if reason:
        status["reason"] = reason
        status["message"] = "The node was low on resource: memory."
    return {
        "metadata": {"name": name, "creationTimestamp": ts(created_ago)},
        "spec": {"containers": [{"name": "dagster", "image": "repo/img:1"}]},
        "status": status,
    }


def run(k8s_job: dict[str, Any] | None, pods: list[dict[str, Any]], **kw: Any) -> Diagnosis:
    return diagnose(k8s_job=k8s_job, pods=pods, now=NOW, **kw)


def test_missing_job_is_a_failure() -> None:
    d = run(None, [])
    assert d.state is K8sJobState.MISSING and d.failed and d.reason is FailureReason.DELETED


def test_complete_condition_is_success() -> None:
    d = run(job(conditions=[{"type": "Complete", "status": "True"}]), [pod(phase="Succeeded")])
    assert d.state is K8sJobState.SUCCEEDED and not d.failed


def test_succeeded_pod_is_success_before_job_condition_lands() -> None:
    assert run(job(), [pod(phase="Succeeded")]).state is K8sJobState.SUCCEEDED


def test_oom_killed_names_reason_pod_and_exit_code() -> None:
    state = {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}
    d = run(job(), [pod(phase="Failed", state=state)], log_tail="allocating\n")
    assert d.reason is FailureReason.OOM_KILLED
    assert d.exit_code == 137 and d.pod_name == "dagster-step-abc-x1"
    assert "OOMKilled" in d.summary() and "memory limit" in d.message and "allocating" in d.message


def test_non_zero_exit_carries_the_log_tail() -> None:
    state = {"terminated": {"exitCode": 3, "reason": "Error"}}
    d = run(job(), [pod(phase="Failed", state=state)], log_tail="Traceback: boom\n")
    assert d.reason is FailureReason.EXIT_CODE and d.exit_code == 3
    assert "exited with code 3" in d.message and "Traceback: boom" in d.message


@pytest.mark.parametrize("reason", ["ErrImagePull", "ImagePullBackOff"])
def test_image_pull_fails_after_grace_only(reason: str) -> None:
    state = {"waiting": {"reason": reason, "message": "not found"}}
    young = run(job(), [pod(phase="Pending", state=state, created_ago=5)])
    assert young.state is K8sJobState.PENDING
    old = run(job(), [pod(phase="Pending", state=state, created_ago=40)])
    assert old.reason is FailureReason.IMAGE_PULL and "repo/img:1" in old.message
    zero = run(
        job(),
        [pod(phase="Pending", state=state, created_ago=0)],
        settings=DiagnosisSettings(image_pull_grace_s=0),
    )
    assert zero.failed


def test_create_container_config_error() -> None:
    state = {"waiting": {"reason": "CreateContainerConfigError", "message": 'secret "s" not found'}}
    d = run(job(), [pod(phase="Pending", state=state, created_ago=20)])
    assert d.reason is FailureReason.CONTAINER_CONFIG and 'secret "s" not found' in d.message


def test_unschedulable_after_grace() -> None:
    cond = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/1 nodes match node selector",
            "lastTransitionTime": ts(61),
        }
    ]
    d = run(job(), [pod(phase="Pending", conditions=cond, state={"waiting": {}})])
    assert d.reason is FailureReason.UNSCHEDULABLE and "node selector" in d.message


def test_evicted() -> None:
    d = run(job(), [pod(phase="Failed", reason="Evicted")])
    assert d.reason is FailureReason.EVICTED and "low on resource" in d.message


def test_failed_create_without_pods() -> None:
    events = [
        {"reason": "FailedCreate", "message": 'serviceaccount "nope" not found', "firstTimestamp": ts(1)}
    ]
    d = run(job(), [], events=events)
    assert d.reason is FailureReason.FAILED_CREATE and "nope" in d.message


def test_deadline_exceeded_from_job_condition() -> None:
    cond = [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "too long"}]
    d = run(job(conditions=cond), [])
    assert d.reason is FailureReason.DEADLINE_EXCEEDED


def test_deadline_beats_the_exit_code_of_the_pod_it_killed() -> None:
    cond = [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "too long"}]
    killed = pod("p", phase="Failed", state={"terminated": {"exitCode": 143}}, created_ago=5)
    d = run(job(conditions=cond), [killed])
    assert d.reason is FailureReason.DEADLINE_EXCEEDED


def test_replaced_pod_with_retries_left_is_not_a_failure() -> None:
    failed = pod("p-old", phase="Failed", state={"terminated": {"exitCode": 1}}, created_ago=50)
    fresh = pod("p-new", phase="Running", created_ago=5)
    d = run(job(backoff_limit=2), [failed, fresh])
    assert d.state is K8sJobState.RUNNING and d.pod_name == "p-new"


def test_backoff_limit_exceeded_reports_the_pod_cause() -> None:
    cond = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "x"}]
    failed = pod(phase="Failed", state={"terminated": {"exitCode": 137, "reason": "OOMKilled"}})
    assert run(job(backoff_limit=1, conditions=cond), [failed]).reason is FailureReason.OOM_KILLED


def test_pending_and_running() -> None:
    assert run(job(), []).state is K8sJobState.PENDING
    assert run(job(), [pod(phase="Pending", state={"waiting": {"reason": "ContainerCreating"}})]).state is (
        K8sJobState.PENDING
    )
    assert run(job(), [pod()]).state is K8sJobState.RUNNING


def test_settings_from_config_defaults_and_overrides() -> None:
    assert DiagnosisSettings.from_config({}) == DiagnosisSettings()
    settings = DiagnosisSettings.from_config({"failure_grace_seconds": {"image_pull": 0, "unschedulable": 5}})
    assert settings.image_pull_grace_s == 0.0 and settings.unschedulable_grace_s == 5.0
    assert settings.container_config_grace_s == DiagnosisSettings().container_config_grace_s
