"""Why one pod failed, in the order a cause beats its consequences.

A pod-level reason or a DisruptionTarget condition (the node, the scheduler or an eviction ended
the pod) beats the container exit codes it caused; a pod being deleted beats the 137/143 of the
kill; main containers are blamed before init containers, and native sidecars last and never once
the main containers succeeded (the kubelet stops sidecars with SIGTERM at the end).
"""

from __future__ import annotations

from datetime import datetime

from dagster_ext.k8s.status import pods as facts
from dagster_ext.k8s.status.capacity import NodeCapacity, short_of_capacity_only
from dagster_ext.k8s.status.model import Diagnosis, DiagnosisSettings, K8sJobState
from dagster_ext.k8s.status.pods import ContainerStatus, JsonDict
from dagster_ext.k8s.status.reasons import Category, FailureReason

R = FailureReason
ADMISSION_REASONS = frozenset(
    {"NodeAffinity", "NodeSelectorMismatching", "UnexpectedAdmissionError", "InvalidNodeInfo", "Taint"}
)
POD_REASONS = {
    "Preempting": R.PREEMPTED,
    "Terminated": R.NODE_SHUTDOWN,
    "Shutdown": R.NODE_SHUTDOWN,
    "NodeShutdown": R.NODE_SHUTDOWN,
    "DeadlineExceeded": R.DEADLINE_EXCEEDED,
    "NodeLost": R.NODE_LOST,
}
DISRUPTION_REASONS = {
    "PreemptionByScheduler": R.PREEMPTED,
    "PreemptionByKubeScheduler": R.PREEMPTED,
    "DeletionByTaintManager": R.TAINT_EVICTED,
    "EvictionByEvictionAPI": R.EVICTED_BY_API,
    "DeletionByPodGC": R.NODE_LOST,
}
WAITING_REASONS = {
    "ErrImagePull": R.IMAGE_PULL,
    "ImagePullBackOff": R.IMAGE_PULL,
    "InvalidImageName": R.INVALID_IMAGE_NAME,
    "ErrImageNeverPull": R.IMAGE_NEVER_PULL,
    "SignatureValidationFailed": R.IMAGE_SIGNATURE,
    "ImageInspectError": R.IMAGE_INSPECT,
    "RegistryUnavailable": R.REGISTRY_UNAVAILABLE,
    "CreateContainerConfigError": R.CONTAINER_CONFIG,
    "CreateContainerError": R.CREATE_CONTAINER,
    "RunContainerError": R.RUN_CONTAINER,
}
# Nothing will change without a new spec: no grace.
FATAL_AT_ONCE = frozenset({R.INVALID_IMAGE_NAME, R.IMAGE_NEVER_PULL})
KILL_CODES = frozenset({137, 143})


def _failed(
    pod: JsonDict,
    reason: FailureReason,
    detail: str,
    *,
    container: str | None = None,
    exit_code: int | None = None,
) -> Diagnosis:
    return Diagnosis(
        K8sJobState.FAILED,
        reason,
        detail,
        pod_name=facts.pod_name(pod),
        exit_code=exit_code,
        container=container,
        node=facts.node_name(pod),
    )


def _kubelet_reason(pod_reason: str, message: str) -> FailureReason:
    """TerminationByKubelet covers node-pressure eviction, node shutdown and critical-pod preemption."""
    if pod_reason in POD_REASONS:
        return POD_REASONS[pod_reason]
    if "shutdown" in message.lower():
        return R.NODE_SHUTDOWN
    if "preempt" in message.lower():
        return R.PREEMPTED
    return R.EVICTED


def _eviction_reason(message: str) -> FailureReason:
    lowered = message.lower()
    if "ephemeral" in lowered or "emptydir" in lowered:
        return R.EPHEMERAL_STORAGE if "exceeds" in lowered or "exceeded" in lowered else R.EVICTED
    return R.EVICTED


def pod_level_failure(pod: JsonDict) -> Diagnosis | None:
    """The pod was ended from outside its containers: eviction, preemption, node shutdown or loss,
    deadline, admission rejection, or a DisruptionTarget condition."""
    status = pod.get("status") or {}
    reason, message = str(status.get("reason") or ""), str(status.get("message") or "").strip()
    disruption = facts.condition_true(pod, "DisruptionTarget")
    if facts.phase(pod) == "Failed" and reason:
        if reason == "Evicted":
            return _failed(pod, _eviction_reason(message), message or "the kubelet evicted the pod")
        if reason in POD_REASONS:
            return _failed(pod, POD_REASONS[reason], message or reason)
        if reason in ADMISSION_REASONS or reason.startswith("OutOf"):
            return _failed(pod, R.ADMISSION_REJECTED, f"{reason}: {message}".rstrip(": "))
    if disruption is None:
        return None
    kind = str(disruption.get("reason") or "")
    detail = str(disruption.get("message") or kind).strip()
    if kind == "TerminationByKubelet":
        found = _kubelet_reason(reason, detail)
        found = _eviction_reason(detail) if found is R.EVICTED else found
        return _failed(pod, found, detail)
    return _failed(pod, DISRUPTION_REASONS.get(kind, R.POD_DELETED), f"{kind}: {detail}".rstrip(": "))


def _exit_detail(pod: JsonDict, found: ContainerStatus, terminated: JsonDict, *, restarts: str = "") -> str:
    code = int(terminated.get("exitCode") or 0)
    what = {"init": "init container", "sidecar": "sidecar container"}.get(found.kind, "container")
    sig = facts.signal_name(code)
    code_text = f"exit code {code}" + (f", {sig}" if sig else "")
    if terminated.get("reason") == "OOMKilled":
        limit = facts.memory_limit(pod, found.name)
        bound = f"its memory limit of {limit}" if limit else "the node's memory (no memory limit set)"
        return f"{what} {found.name!r} exceeded {bound} and was killed ({code_text}){restarts}"
    message = str(terminated.get("message") or "").strip()
    detail = f": {message}" if message else ""
    return f"{what} {found.name!r} exited with code {code}" + (f" ({sig})" if sig else "") + restarts + detail


def _terminated_reason(terminated: JsonDict) -> FailureReason:
    reason = terminated.get("reason")
    if reason == "OOMKilled":
        return R.OOM_KILLED
    if reason in ("StartError", "ContainerCannotRun"):
        return R.START_ERROR
    if reason == "ContainerStatusUnknown":
        return R.CONTAINER_STATUS_UNKNOWN
    return R.EXIT_CODE


def container_failure(pod: JsonDict, *, deletion_matters: bool = True) -> Diagnosis | None:
    """The container to blame for a terminated failure; a deletion explains the kill codes."""
    deleting = deletion_matters and facts.is_deleting(pod)
    pod_failed = facts.phase(pod) == "Failed"
    spare_sidecars = facts.main_containers_succeeded(pod)
    for found in facts.containers(pod):
        terminated = found.terminated
        if found.kind == "sidecar" and (spare_sidecars or not pod_failed):
            continue  # a sidecar restarts on its own while the pod runs
        if not terminated or not facts.is_failure(terminated, pod_failed=pod_failed):
            continue
        code = int(terminated.get("exitCode") or 0)
        reason = _terminated_reason(terminated)
        if deleting and reason is not R.OOM_KILLED and (code in KILL_CODES or reason is not R.EXIT_CODE):
            detail = f"the pod was deleted while container {found.name!r} ran (exit code {code} follows)"
            return _failed(pod, R.POD_DELETED, detail, container=found.name, exit_code=code)
        return _failed(
            pod, reason, _exit_detail(pod, found, terminated), container=found.name, exit_code=code
        )
    if deleting and not spare_sidecars and facts.phase(pod) not in ("Succeeded",):
        return _failed(pod, R.POD_DELETED, "the pod is being deleted")
    return None


def restart_failure(pod: JsonDict, *, backoff_limit: int | None = None) -> Diagnosis | None:
    """The last termination of a restarting container (restartPolicy OnFailure/Always), as a
    failure: the caller decides whether the K8s Job gave up on it."""
    for found in facts.containers(pod):
        last = found.last_terminated
        if found.kind == "sidecar" or not last or not facts.is_failure(last, pod_failed=True):
            continue
        limit = f" of backoffLimit {backoff_limit}" if backoff_limit is not None else ""
        restarts = f" after {found.restarts} restart(s){limit}" if found.restarts else ""
        code = int(last.get("exitCode") or 0)
        return _failed(
            pod,
            _terminated_reason(last),
            _exit_detail(pod, found, last, restarts=restarts),
            container=found.name,
            exit_code=code,
        )
    return None


def crash_loop(pod: JsonDict, *, backoff_limit: int | None = None) -> Diagnosis | None:
    """A container waiting in CrashLoopBackOff, explained by its last termination (not a failure
    yet: the K8s Job decides when the restarts are too many)."""
    if facts.first_waiting(pod, frozenset({"CrashLoopBackOff"})) is None:
        return None
    cause = restart_failure(pod, backoff_limit=backoff_limit)
    if cause is None:
        return None
    return Diagnosis(
        K8sJobState.RUNNING if facts.phase(pod) == "Running" else K8sJobState.PENDING,
        R.CRASH_LOOP,
        f"{cause.reason.value if cause.reason else ''}: {cause.detail}",
        pod_name=cause.pod_name,
        exit_code=cause.exit_code,
        container=cause.container,
        node=cause.node,
    )


def _age_s(since: datetime | None, now: datetime) -> float:
    return (now - since).total_seconds() if since else float("inf")


def _grace_s(reason: FailureReason, settings: DiagnosisSettings) -> float:
    if reason in FATAL_AT_ONCE:
        return 0.0
    if reason in (R.CONTAINER_CONFIG, R.CREATE_CONTAINER, R.RUN_CONTAINER):
        return settings.container_config_grace_s
    return settings.image_pull_grace_s


def stuck_failure(
    pod: JsonDict, now: datetime, settings: DiagnosisSettings, capacity: NodeCapacity | None = None
) -> Diagnosis | None:
    """A pod that cannot start: a failure once its grace passed, else the reason of the wait.
    Without `capacity` (nodes not readable), every Unschedulable pod has the unschedulable grace."""
    started = facts.parse_time((pod.get("status") or {}).get("startTime")) or facts.parse_time(
        (pod.get("metadata") or {}).get("creationTimestamp")
    )
    for found in facts.containers(pod):
        waiting = found.waiting or {}
        reason = WAITING_REASONS.get(str(waiting.get("reason") or ""))
        if reason is None:
            continue
        image = str(facts.container_spec(pod, found.name).get("image") or "")
        if reason in (R.IMAGE_PULL, R.REGISTRY_UNAVAILABLE):
            detail = f"{waiting.get('reason')}: cannot pull image {image!r} for container {found.name!r}"
        elif reason.category is Category.IMAGE:
            detail = f"{waiting.get('reason')}: image {image!r} of container {found.name!r}"
        else:
            detail = f"{waiting.get('reason')} for container {found.name!r}"
        if str(waiting.get("message") or "").strip():
            detail += f": {str(waiting['message']).strip()}"
        state = (
            K8sJobState.FAILED if _age_s(started, now) >= _grace_s(reason, settings) else K8sJobState.PENDING
        )
        return Diagnosis(
            state,
            reason,
            detail,
            pod_name=facts.pod_name(pod),
            container=found.name,
            node=facts.node_name(pod),
        )
    unschedulable = facts.unschedulable_since(pod)
    if unschedulable:
        return _unschedulable(pod, unschedulable, now, settings, capacity)
    return None


def _unschedulable(
    pod: JsonDict,
    since: tuple[datetime | None, str],
    now: datetime,
    settings: DiagnosisSettings,
    capacity: NodeCapacity | None,
) -> Diagnosis:
    waited = _age_s(since[0], now)
    if capacity is not None and short_of_capacity_only(since[1]) and capacity.fits_empty_node(pod):
        limit = settings.capacity_grace_s
        state = K8sJobState.FAILED if limit is not None and waited >= limit else K8sJobState.PENDING
        detail = f"pod waits for capacity on busy nodes: {since[1]}"
        return Diagnosis(state, R.WAITING_FOR_CAPACITY, detail, facts.pod_name(pod))
    state = K8sJobState.FAILED if waited >= settings.unschedulable_grace_s else K8sJobState.PENDING
    return Diagnosis(state, R.UNSCHEDULABLE, f"pod cannot be scheduled: {since[1]}", facts.pod_name(pod))
