"""Classify a K8s Job with its pods and Events into one state and, on failure, one named reason.

dagster-k8s reports nearly every failure as "Discovered failed Kubernetes job"; operators then go
to `kubectl describe`. We name the cause (OOMKilled, exit code + log tail, image pull, config
error, unschedulable, FailedCreate, eviction, deadline) and the pod, from objects already held.
Stuck states (image pull, unschedulable, config errors) only count as failures after a grace
period, since real clusters recover from some of them (registry blips, autoscaling).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from dagster_ext.k8s.status import pods as facts
from dagster_ext.k8s.status.pods import JsonDict


class K8sJobState(Enum):
    MISSING = "missing"
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class FailureReason(str, Enum):
    OOM_KILLED = "OOMKilled"
    EXIT_CODE = "NonZeroExit"
    IMAGE_PULL = "ImagePullBackOff"
    CONTAINER_CONFIG = "CreateContainerConfigError"
    UNSCHEDULABLE = "Unschedulable"
    FAILED_CREATE = "FailedCreate"
    EVICTED = "Evicted"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    BACKOFF_LIMIT = "BackoffLimitExceeded"
    DELETED = "Deleted"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class DiagnosisSettings:
    image_pull_grace_s: float = 30.0
    unschedulable_grace_s: float = 60.0
    container_config_grace_s: float = 10.0
    failed_create_grace_s: float = 0.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DiagnosisSettings:
        """From the `failure_grace_seconds` key shared by the launcher and executor configs."""
        grace = config.get("failure_grace_seconds") or {}
        defaults = cls()
        return cls(
            image_pull_grace_s=float(grace.get("image_pull", defaults.image_pull_grace_s)),
            unschedulable_grace_s=float(grace.get("unschedulable", defaults.unschedulable_grace_s)),
            container_config_grace_s=float(grace.get("container_config", defaults.container_config_grace_s)),
            failed_create_grace_s=float(grace.get("failed_create", defaults.failed_create_grace_s)),
        )


@dataclass(frozen=True)
class Diagnosis:
    state: K8sJobState
    reason: FailureReason | None = None
    message: str = ""
    pod_name: str | None = None
    exit_code: int | None = None

    @property
    def failed(self) -> bool:
        return self.state in (K8sJobState.FAILED, K8sJobState.MISSING)

    @property
    def done(self) -> bool:
        return self.state in (K8sJobState.SUCCEEDED, K8sJobState.FAILED, K8sJobState.MISSING)

    def summary(self) -> str:
        head = self.reason.value if self.reason else self.state.value
        where = f" (pod {self.pod_name})" if self.pod_name else ""
        return f"{head}{where}: {self.message}" if self.message else f"{head}{where}"


def _age_s(since: datetime | None, now: datetime) -> float:
    return (now - since).total_seconds() if since else float("inf")


def _newest_first(pods: Sequence[JsonDict]) -> list[JsonDict]:
    return sorted(
        pods, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""), reverse=True
    )


def _with_log(message: str, log_tail: str | None) -> str:
    if not log_tail or not log_tail.strip():
        return message
    return f"{message}\nLast log lines:\n{log_tail.rstrip()}"


def _terminal_pod_failure(pod: JsonDict, log_tail: str | None) -> Diagnosis | None:
    name = facts.pod_name(pod)
    if facts.is_evicted(pod):
        message = str((pod.get("status") or {}).get("message") or "the node evicted the pod")
        return Diagnosis(K8sJobState.FAILED, FailureReason.EVICTED, message, name)
    found = facts.first_terminated_failure(pod)
    if found is None:
        return None
    container, terminated = found
    code = int(terminated.get("exitCode") or 0)
    if terminated.get("reason") == "OOMKilled":
        message = f"container {container!r} exceeded its memory limit and was killed (exit code {code})"
        return Diagnosis(
            K8sJobState.FAILED, FailureReason.OOM_KILLED, _with_log(message, log_tail), name, code
        )
    detail = f": {terminated['message']}" if terminated.get("message") else ""
    message = f"container {container!r} exited with code {code}{detail}"
    return Diagnosis(K8sJobState.FAILED, FailureReason.EXIT_CODE, _with_log(message, log_tail), name, code)


def _stuck_pod_failure(pod: JsonDict, now: datetime, settings: DiagnosisSettings) -> Diagnosis | None:
    name = facts.pod_name(pod)
    started = facts.parse_time((pod.get("status") or {}).get("startTime")) or facts.parse_time(
        (pod.get("metadata") or {}).get("creationTimestamp")
    )
    pull = facts.first_waiting(pod, facts.IMAGE_PULL_REASONS)
    if pull and _age_s(started, now) >= settings.image_pull_grace_s:
        container, waiting = pull
        image = _image_of(pod, container)
        message = f"{waiting.get('reason')}: cannot pull image {image!r} for container {container!r}"
        if waiting.get("message"):
            message += f": {waiting['message']}"
        return Diagnosis(K8sJobState.FAILED, FailureReason.IMAGE_PULL, message, name)
    config = facts.first_waiting(pod, facts.CONFIG_REASONS)
    if config and _age_s(started, now) >= settings.container_config_grace_s:
        container, waiting = config
        message = (
            f"{waiting.get('reason')} for container {container!r}: {waiting.get('message') or ''}".rstrip(
                ": "
            )
        )
        return Diagnosis(K8sJobState.FAILED, FailureReason.CONTAINER_CONFIG, message, name)
    unschedulable = facts.unschedulable_since(pod)
    if unschedulable and _age_s(unschedulable[0], now) >= settings.unschedulable_grace_s:
        return Diagnosis(
            K8sJobState.FAILED,
            FailureReason.UNSCHEDULABLE,
            f"pod cannot be scheduled: {unschedulable[1]}",
            name,
        )
    return None


def _image_of(pod: JsonDict, container: str) -> str:
    spec = pod.get("spec") or {}
    for c in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        if c.get("name") == container:
            return str(c.get("image") or "")
    return ""


def _failed_create(
    events: Sequence[JsonDict], now: datetime, settings: DiagnosisSettings
) -> Diagnosis | None:
    for event in reversed(events):
        if event.get("reason") != "FailedCreate":
            continue
        first = facts.parse_time(event.get("firstTimestamp") or event.get("eventTime"))
        if _age_s(first, now) >= settings.failed_create_grace_s:
            return Diagnosis(K8sJobState.FAILED, FailureReason.FAILED_CREATE, str(event.get("message") or ""))
    return None


def _job_condition_failure(k8s_job: JsonDict) -> Diagnosis | None:
    cond = facts.condition(k8s_job, "Failed")
    if not cond or cond.get("status") != "True":
        return None
    reason = str(cond.get("reason") or "")
    known = {r.value: r for r in (FailureReason.DEADLINE_EXCEEDED, FailureReason.BACKOFF_LIMIT)}
    return Diagnosis(
        K8sJobState.FAILED, known.get(reason, FailureReason.UNKNOWN), str(cond.get("message") or reason)
    )


def diagnose(
    *,
    k8s_job: JsonDict | None,
    pods: Sequence[JsonDict],
    now: datetime,
    events: Sequence[JsonDict] = (),
    settings: DiagnosisSettings | None = None,
    log_tail: str | None = None,
) -> Diagnosis:
    """The state of one K8s Job. `log_tail` (the failed container's last lines) enriches messages."""
    settings = settings or DiagnosisSettings()
    if k8s_job is None:
        return Diagnosis(K8sJobState.MISSING, FailureReason.DELETED, "the K8s Job no longer exists")
    complete = facts.condition(k8s_job, "Complete")
    if complete and complete.get("status") == "True":
        return Diagnosis(K8sJobState.SUCCEEDED)
    job_failed = _job_condition_failure(k8s_job)
    if job_failed is not None and job_failed.reason is FailureReason.DEADLINE_EXCEEDED:
        return job_failed  # its pods were killed by the deadline: their exit codes are not the cause
    retries_left = job_failed is None and int((k8s_job.get("spec") or {}).get("backoffLimit") or 0) > 0
    ordered = _newest_first(pods)
    for pod in ordered:
        # With retries left, the Job controller replaces a failed pod: not a failure yet.
        terminal = None if retries_left else _terminal_pod_failure(pod, log_tail)
        found = terminal or _stuck_pod_failure(pod, now, settings)
        if found:
            return found
    if job_failed:
        return job_failed
    if any((p.get("status") or {}).get("phase") == "Succeeded" for p in ordered[:1]):
        return Diagnosis(K8sJobState.SUCCEEDED, pod_name=facts.pod_name(ordered[0]))
    if not ordered:
        return _failed_create(events, now, settings) or Diagnosis(K8sJobState.PENDING)
    phase = (ordered[0].get("status") or {}).get("phase")
    state = K8sJobState.RUNNING if phase == "Running" else K8sJobState.PENDING
    return Diagnosis(state, pod_name=facts.pod_name(ordered[0]))
