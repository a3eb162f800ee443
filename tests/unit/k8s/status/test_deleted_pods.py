"""A step pod deleted by someone else under a K8s Job with no retries left: the Job controller counts
it failed at once and concludes BackoffLimitExceeded, and the pod is gone soon after. The diagnosis
names the deletion (PodDeleted), not the backoff limit or the kill's exit code; a real cause in any
pod of the Job still wins."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_ext.k8s.status import FailureReason, K8sJobState, diagnose
from tests.unit.k8s.status.test_precedence import NOW, k8s_job, pod, terminated

BACKOFF = {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "backoff limit"}
killed_or_running = st.sampled_from([terminated(137), terminated(143), {"running": {}}])


def failed_job(*, failed: int = 1) -> dict[str, Any]:
    job = k8s_job(conditions=[BACKOFF])
    job["status"]["failed"] = failed
    return job


def named(target: dict[str, Any], name: str, created: str) -> dict[str, Any]:
    target["metadata"] = {**target["metadata"], "name": name, "creationTimestamp": created}
    return target


@settings(max_examples=60, deadline=None)
@given(main=killed_or_running, phase=st.sampled_from(["Running", "Failed"]))
def test_a_pod_being_deleted_that_used_up_the_backoff_limit_is_named_deleted(
    main: dict[str, Any], phase: str
) -> None:
    found = diagnose(k8s_job=failed_job(), pods=[pod(main=main, phase=phase, deleting=True)], now=NOW)
    assert found.state is K8sJobState.FAILED and found.reason is FailureReason.POD_DELETED
    assert found.pod_name == "j-x" and "backoff limit" in found.headline()


def test_no_pod_left_of_a_job_that_counted_a_failed_pod_means_it_was_deleted() -> None:
    found = diagnose(k8s_job=failed_job(), pods=[], now=NOW)
    assert found.reason is FailureReason.POD_DELETED and found.retryable
    assert "1 failed pod(s), backoffLimit 0" in found.headline() and "deleted" in found.headline()


def test_a_verdict_without_any_counted_failure_keeps_the_jobs_reason() -> None:
    assert diagnose(k8s_job=failed_job(failed=0), pods=[], now=NOW).reason is FailureReason.BACKOFF_LIMIT


@settings(max_examples=60, deadline=None)
@given(
    cause=st.sampled_from([terminated(1), terminated(2), terminated(137, "OOMKilled")]),
    deleted=killed_or_running,
    deleted_is_newer=st.booleans(),
)
def test_a_real_cause_in_another_pod_beats_a_deletion(
    cause: dict[str, Any], deleted: dict[str, Any], deleted_is_newer: bool
) -> None:
    early, late = "2026-03-10T11:50:00Z", "2026-03-10T11:55:00Z"
    failing = named(pod(main=cause), "j-a", early if deleted_is_newer else late)
    deleting = named(pod(main=deleted, deleting=True), "j-b", late if deleted_is_newer else early)
    found = diagnose(k8s_job=failed_job(failed=2), pods=[deleting, failing], now=NOW)
    assert found.reason in (FailureReason.EXIT_CODE, FailureReason.OOM_KILLED)
    assert found.pod_name == "j-a"


def test_an_oom_kill_of_a_pod_being_deleted_is_still_the_oom() -> None:
    target = pod(main=terminated(137, "OOMKilled"), deleting=True)
    assert diagnose(k8s_job=failed_job(), pods=[target], now=NOW).reason is FailureReason.OOM_KILLED


def test_the_last_state_seen_of_a_gone_pod_explains_the_verdict() -> None:
    last_seen = pod(main={"running": {}}, phase="Running")  # no deletionTimestamp seen yet
    found = diagnose(k8s_job=failed_job(), pods=[], gone_pods=[last_seen], now=NOW)
    assert found.reason is FailureReason.POD_DELETED and found.pod_name == "j-x" and found.node == "n1"


def test_gone_pods_do_not_matter_without_a_verdict() -> None:
    job = k8s_job(backoff=2)
    replacement = named(pod(main={"running": {}}, phase="Running"), "j-new", "2026-03-10T11:58:00Z")
    gone = pod(main=terminated(143), deleting=True)
    found = diagnose(k8s_job=job, pods=[replacement], gone_pods=[gone], now=NOW)
    assert found.state is K8sJobState.RUNNING and found.pod_name == "j-new"
