"""Classify a K8s Job with its pods and Events into one state and, on failure, one named reason.

dagster-k8s reports nearly every failure as "Discovered failed Kubernetes job"; operators then go
to `kubectl describe`. We name the cause from objects already held. Precedence, cause before
consequence: a Job-level deadline, podFailurePolicy or failed-index condition names the failure
(the pods it killed exited 137/143 because of it); with BackoffLimitExceeded the pods' own cause
is the better answer; a pod-level reason or DisruptionTarget beats container exit codes; deletion
beats the kill codes. Stuck states (image pull, unschedulable, config errors) only count as
failures after a grace period, since real clusters recover from some of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from dagster_ext.k8s.status import pod_failures
from dagster_ext.k8s.status import pods as facts
from dagster_ext.k8s.status.capacity import NodeCapacity
from dagster_ext.k8s.status.model import Diagnosis, DiagnosisSettings, K8sJobState
from dagster_ext.k8s.status.pods import JsonDict
from dagster_ext.k8s.status.reasons import Category, FailureReason

__all__ = [
    "Category",
    "Diagnosis",
    "DiagnosisSettings",
    "FailureReason",
    "K8sJobState",
    "NodeCapacity",
    "diagnose",
]

R = FailureReason
JOB_REASONS = {
    "DeadlineExceeded": R.DEADLINE_EXCEEDED,
    "BackoffLimitExceeded": R.BACKOFF_LIMIT,
    "PodFailurePolicy": R.POD_FAILURE_POLICY,
    "MaxFailedIndexesExceeded": R.MAX_FAILED_INDEXES,
    "FailedIndexes": R.FAILED_INDEXES,
}


def _newest_first(pods: Sequence[JsonDict]) -> list[JsonDict]:
    return sorted(
        pods, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""), reverse=True
    )


def _as_deleted(pod: JsonDict) -> JsonDict:
    """A pod gone from the API was deleted, whatever its last seen state says."""
    if facts.is_deleting(pod):
        return pod
    meta = {**(pod.get("metadata") or {}), "deletionTimestamp": "unknown"}
    return {**pod, "metadata": meta}


def _backoff_limit(k8s_job: JsonDict) -> int:
    return int((k8s_job.get("spec") or {}).get("backoffLimit") or 0)


def job_failure(k8s_job: JsonDict | None) -> Diagnosis | None:
    """The Job controller's verdict: Failed, or FailureTarget (set first, while it kills the pods)."""
    for kind in ("Failed", "FailureTarget"):
        cond = facts.condition_true(k8s_job or {}, kind)
        if cond is None:
            continue
        reason = JOB_REASONS.get(str(cond.get("reason") or ""), R.UNKNOWN)
        message = str(cond.get("message") or cond.get("reason") or "")
        return Diagnosis(K8sJobState.FAILED, reason, _job_detail(k8s_job or {}, reason, message))
    return None


def _job_detail(k8s_job: JsonDict, reason: FailureReason, message: str) -> str:
    spec, status = k8s_job.get("spec") or {}, k8s_job.get("status") or {}
    if reason is R.DEADLINE_EXCEEDED and spec.get("activeDeadlineSeconds") is not None:
        return f"{message} (activeDeadlineSeconds {spec['activeDeadlineSeconds']})"
    if reason is R.BACKOFF_LIMIT:
        failed = int(status.get("failed") or 0)
        return f"{message} ({failed} failed pod(s), backoffLimit {_backoff_limit(k8s_job)})"
    if reason is R.MAX_FAILED_INDEXES:
        indexes, limit = status.get("failedIndexes"), spec.get("maxFailedIndexes")
        return f"{message} (failed indexes {indexes}, maxFailedIndexes {limit})"
    return message


def _with_pod(found: Diagnosis, cause: Diagnosis | None) -> Diagnosis:
    """The Job's reason, with where its named pod ran (and the exit code a policy rule matched)."""
    if cause is None:
        return found
    return Diagnosis(
        found.state,
        found.reason,
        found.detail,
        pod_name=cause.pod_name,
        exit_code=cause.exit_code if found.reason is not R.DEADLINE_EXCEEDED else None,
        container=cause.container if found.reason is not R.DEADLINE_EXCEEDED else None,
        node=cause.node,
    )


def _policy_pod(pods: list[JsonDict], message: str) -> JsonDict | None:
    """The pod a podFailurePolicy message names ("... for pod ns/name failed with exit code 42")."""
    named = [p for p in pods if facts.pod_name(p) and f"/{facts.pod_name(p)} " in f"{message} "]
    return named[0] if named else (pods[0] if pods else None)


def _pod_cause(pod: JsonDict, k8s_job: JsonDict, *, verdict: bool) -> Diagnosis | None:
    """Why the pod failed. Under a Job verdict (`verdict`), the controller's own deletion of the pod
    is a consequence: the last termination before the kill is the cause."""
    level = pod_failures.pod_level_failure(pod)
    if level is not None or not verdict:
        return level or pod_failures.container_failure(pod)
    restarted = pod_failures.restart_failure(pod, backoff_limit=_backoff_limit(k8s_job))
    current = pod_failures.container_failure(pod, deletion_matters=False)
    return (restarted or current) if facts.is_deleting(pod) else (current or restarted)


def _job_verdict(k8s_job: JsonDict, ordered: list[JsonDict], found: Diagnosis) -> Diagnosis:
    """A failed Job: its own reason, or (BackoffLimitExceeded) what its newest failed pod says."""
    if found.reason is R.BACKOFF_LIMIT:
        return _backoff_cause(k8s_job, ordered, found)
    if found.reason is R.POD_FAILURE_POLICY:
        named = _policy_pod(ordered, found.detail)
        return _with_pod(found, _pod_cause(named, k8s_job, verdict=True) if named else None)
    causes = [c for c in (_pod_cause(p, k8s_job, verdict=True) for p in ordered) if c]
    return _with_pod(found, causes[0] if causes else None)


def _backoff_cause(k8s_job: JsonDict, ordered: list[JsonDict], found: Diagnosis) -> Diagnosis:
    """The pod that used up the backoff limit. The Job controller counts a pod deleted from outside
    as failed at once and never deletes a failed pod itself, so a pod being deleted whose only
    trouble is the kill, or no pod left at all, means someone else deleted it: the deletion is the
    cause, not the user's code. A real cause of another pod still wins."""
    deleted: Diagnosis | None = None
    for pod in ordered:
        cause = _pod_cause(pod, k8s_job, verdict=True)
        if facts.is_deleting(pod) and _only_the_kill(cause):
            deleted = deleted or pod_failures.container_failure(pod)
            continue
        if cause is not None:
            return cause
    if deleted is not None:
        return dataclasses.replace(deleted, detail=f"{deleted.detail}; {found.detail}")
    if not ordered and _failed_pods(k8s_job) > 0:
        detail = f"{found.detail}; no failed pod is left to read: it was deleted"
        return Diagnosis(K8sJobState.FAILED, R.POD_DELETED, detail)
    return found


def _only_the_kill(cause: Diagnosis | None) -> bool:
    """No cause but the SIGKILL/SIGTERM that a deletion sends."""
    return cause is None or (cause.reason is R.EXIT_CODE and cause.exit_code in pod_failures.KILL_CODES)


def _failed_pods(k8s_job: JsonDict) -> int:
    status = k8s_job.get("status") or {}
    uncounted = (status.get("uncountedTerminatedPods") or {}).get("failed") or ()
    return int(status.get("failed") or 0) + len(uncounted)


def _failed_create(
    events: Sequence[JsonDict], now: datetime, settings: DiagnosisSettings
) -> Diagnosis | None:
    for event in reversed(events):
        if event.get("reason") != "FailedCreate":
            continue
        first = facts.parse_time(event.get("firstTimestamp") or event.get("eventTime"))
        age = (now - first).total_seconds() if first else float("inf")
        if age >= settings.failed_create_grace_s:
            return Diagnosis(K8sJobState.FAILED, R.FAILED_CREATE, str(event.get("message") or ""))
    return None


def _live_pod(pod: JsonDict, k8s_job: JsonDict) -> Diagnosis:
    phase = facts.phase(pod)
    waiting = pod_failures.crash_loop(pod, backoff_limit=_backoff_limit(k8s_job))
    if waiting is not None:
        return waiting
    state = K8sJobState.RUNNING if phase == "Running" else K8sJobState.PENDING
    return Diagnosis(state, pod_name=facts.pod_name(pod), node=facts.node_name(pod))


def diagnose(
    *,
    k8s_job: JsonDict | None,
    pods: Sequence[JsonDict],
    now: datetime,
    events: Sequence[JsonDict] = (),
    settings: DiagnosisSettings | None = None,
    log_tail: str | None = None,
    capacity: NodeCapacity | None = None,
    gone_pods: Sequence[JsonDict] = (),
) -> Diagnosis:
    """The state of one K8s Job. `log_tail` (the failed container's last lines) enriches messages;
    `capacity` (the nodes' allocatable resources) tells a pod waiting for busy nodes from one that
    can never be scheduled; `gone_pods` (the last state seen of pods deleted since) explain a
    failure verdict that counted them."""
    found = _diagnose(
        k8s_job=k8s_job,
        pods=pods,
        now=now,
        events=events,
        settings=settings,
        capacity=capacity,
        gone_pods=gone_pods,
    )
    if log_tail and found.failed and found.container:
        return dataclasses.replace(found, log_tail=log_tail)
    return found


def _diagnose(
    *,
    k8s_job: JsonDict | None,
    pods: Sequence[JsonDict],
    now: datetime,
    events: Sequence[JsonDict],
    settings: DiagnosisSettings | None,
    capacity: NodeCapacity | None,
    gone_pods: Sequence[JsonDict] = (),
) -> Diagnosis:
    settings = settings or DiagnosisSettings()
    if k8s_job is None:
        return Diagnosis(K8sJobState.MISSING, R.DELETED, "the K8s Job no longer exists")
    if facts.condition_true(k8s_job, "Complete") or facts.condition_true(k8s_job, "SuccessCriteriaMet"):
        return Diagnosis(K8sJobState.SUCCEEDED)
    ordered = _newest_first(pods)
    verdict = job_failure(k8s_job)
    if verdict is not None:
        return _job_verdict(k8s_job, _newest_first([*pods, *map(_as_deleted, gone_pods)]), verdict)
    if facts.is_deleting(k8s_job):
        return Diagnosis(K8sJobState.FAILED, R.DELETED, "the K8s Job is being deleted")
    # With retries left, the Job controller replaces a failed pod: not a failure yet.
    retries_left = _backoff_limit(k8s_job) > 0
    waiting: Diagnosis | None = None
    for pod in ordered:
        terminal = None if retries_left else _pod_cause(pod, k8s_job, verdict=False)
        if terminal is not None:
            return terminal
        stuck = pod_failures.stuck_failure(pod, now, settings, capacity)
        if stuck is not None and stuck.failed:
            return stuck
        waiting = waiting or stuck
    if ordered and facts.main_containers_succeeded(ordered[0]):
        return Diagnosis(K8sJobState.SUCCEEDED, pod_name=facts.pod_name(ordered[0]))
    suspended = facts.condition_true(k8s_job, "Suspended")
    if suspended or ((k8s_job.get("spec") or {}).get("suspend") and not ordered):
        message = str((suspended or {}).get("message") or "Job suspended")
        return Diagnosis(K8sJobState.PENDING, R.SUSPENDED, f"{message} (spec.suspend is true)")
    if not ordered:
        return _failed_create(events, now, settings) or Diagnosis(K8sJobState.PENDING)
    live = _live_pod(ordered[0], k8s_job)
    return live if live.reason or waiting is None else waiting
