"""Create one external K8s Job, stream its pods' logs, wait for it through watches, clean up.

Orchestration only: the manifest comes rendered (`rendering`), I/O goes through the gateway,
state comes from a `K8sJobTracker` (three watches: Jobs, pods, FailedCreate Events; no polling
of the API) and failures are named by `dagster_ext.k8s.status`. dagster-k8s instead polls the
Job and pod every few seconds and prints the log only once a pod is found running.

Cleanup rule: a K8s Job that may still be running when we stop waiting (run terminated, timeout,
watch failure, a pod stuck pulling its image) is always deleted, so nothing keeps running for a
step that is over; a K8s Job that ended in failure is deleted when `delete_failed_k8s_jobs`.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Protocol

from dagster import Failure

from dagster_ext.errors import DagsterExtError
from dagster_ext.k8s.client import K8sConflict, K8sGateway
from dagster_ext.k8s.k8s_job.log_pump import LogPump, PodLine
from dagster_ext.k8s.spec import RenderedK8sJob
from dagster_ext.k8s.spec.labels import COMPONENT_LABEL, OP_LABEL, RUN_ID_LABEL
from dagster_ext.k8s.status import (
    RAN_REASONS,
    STUCK_REASONS,
    Diagnosis,
    DiagnosisSettings,
    FailureReason,
    K8sJobState,
    job_failure,
)
from dagster_ext.k8s.status.pods import JsonDict, condition, pod_name
from dagster_ext.k8s.tracking import K8sJobTracker

log = logging.getLogger(__name__)

SYNC_TIMEOUT_S: Final = 60.0
# How often state is re-read from the tracker's memory while no log line arrives (no API call).
STATE_CHECK_S: Final = 0.25
# How long a log stream may stay open after its container ended before it is closed and re-read,
# and how long the re-read may take: a follow request whose container has ended has sent every line
# it will send, so the failure is not held back waiting for the kubelet to close it.
LOG_LINGER_S: Final = 0.5
LOG_REREAD_S: Final = 2.0
# A pod killed by deletion may be reported before the K8s Job condition that explains it.
DELETED_POD_SETTLE_S: Final = 5.0
# Failures after which the K8s Job may still be active (the Job controller keeps trying).
STUCK: Final = STUCK_REASONS
# Pod ends that may be the consequence of a K8s Job condition still on its way.
MAYBE_CONSEQUENCES: Final = frozenset({FailureReason.EXIT_CODE, FailureReason.POD_DELETED})


class K8sJobError(DagsterExtError, Failure):
    """The external K8s Job failed, timed out, or could not be created; the message says why.

    A Dagster `Failure` too, so the step's failure event carries the diagnosis as metadata
    (reason, category, pod, container, node) for alerts, and RetryPolicy still applies."""

    def __init__(self, message: str, *, diagnosis: Diagnosis | None = None) -> None:
        Failure.__init__(self, description=message, metadata=diagnosis.metadata() if diagnosis else None)
        self.diagnosis = diagnosis


class K8sJobTimeout(K8sJobError):
    """`timeout` seconds passed before the K8s Job ended."""


class Reporter(Protocol):
    """Where progress and the pods' log lines go (the op's `context.log`, stdout, ...)."""

    def info(self, message: str) -> None: ...

    def line(self, text: str) -> None: ...


@dataclass(frozen=True)
class RunSettings:
    timeout_s: float | None = None
    delete_failed_k8s_jobs: bool = True
    diagnosis: DiagnosisSettings = field(default_factory=DiagnosisSettings)
    log_tail_lines: int = 25
    follow_logs: bool = True


def label_selector(rendered: RenderedK8sJob) -> str:
    """The calling step's external K8s Jobs and their pods (identity labels are never overridden)."""
    labels = rendered.manifest["metadata"]["labels"]
    return ",".join(f"{key}={labels[key]}" for key in (COMPONENT_LABEL, RUN_ID_LABEL, OP_LABEL))


def run_k8s_job(
    gateway: K8sGateway,
    rendered: RenderedK8sJob,
    *,
    settings: RunSettings,
    reporter: Reporter,
    clock: Callable[[], float] = time.monotonic,
) -> Diagnosis:
    """Run the K8s Job to its end; return its (successful) diagnosis or raise `K8sJobError`."""
    namespace, name = rendered.namespace or "default", rendered.name
    tracker = K8sJobTracker(  # eager: log following needs each pod's container state from the start
        gateway,
        namespace=namespace,
        label_selector=label_selector(rendered),
        diagnosis=settings.diagnosis,
        pods="watch",
    )
    pump = LogPump(
        gateway,
        namespace=namespace,
        container=rendered.container_name,
        is_running=lambda pod: _container_state(tracker, name, pod, rendered.container_name) == "running",
        tail_lines=settings.log_tail_lines,
    )
    waiter = _Waiter(
        tracker=tracker,
        pump=pump,
        name=name,
        container=rendered.container_name,
        reporter=reporter,
        settings=settings,
    )
    created = False
    tracker.start()
    try:
        if not tracker.wait_synced(timeout_s=SYNC_TIMEOUT_S):
            why = f": {tracker.errors[0]}" if tracker.errors else f" in {SYNC_TIMEOUT_S:.0f}s"
            raise K8sJobError(f"could not watch K8s Jobs and pods in namespace {namespace}{why}")
        deadline = None if settings.timeout_s is None else clock() + settings.timeout_s
        _create(gateway, namespace, rendered)
        created = True
        reporter.info(f"Created K8s Job {namespace}/{name}; waiting for it to finish")
        found = waiter.wait(deadline, clock)
    except BaseException:  # interrupted (run terminated), timed out, or the watch broke
        if created:
            _delete(gateway, namespace, name, reporter, why="the op stopped waiting for it")
        raise
    finally:
        pump.stop()
        tracker.stop()
    if not found.failed:
        reporter.info(f"K8s Job {namespace}/{name} succeeded")
        return found
    found = _with_log_tail(
        gateway=gateway,
        tracker=tracker,
        pump=pump,
        namespace=namespace,
        name=name,
        found=found,
        tail_lines=settings.log_tail_lines,
    )
    if settings.delete_failed_k8s_jobs or found.reason in STUCK:
        _delete(gateway, namespace, name, reporter, why="it failed")
    raise K8sJobError(found.failure_text(f"K8s Job {namespace}/{name}"), diagnosis=found)


class _Waiter:
    """The op thread's loop: start log readers as pods start, pass lines on, watch for the end."""

    def __init__(
        self,
        *,
        tracker: K8sJobTracker,
        pump: LogPump,
        name: str,
        container: str,
        reporter: Reporter,
        settings: RunSettings,
    ) -> None:
        self._tracker, self._pump, self._name, self._container = tracker, pump, name, container
        self._reporter, self._settings = reporter, settings

    def wait(self, deadline: float | None, clock: Callable[[], float]) -> Diagnosis:
        while True:
            if self._tracker.errors:
                raise K8sJobError(f"watching K8s Job {self._name} failed: {self._tracker.errors[0]}")
            self._follow_started_pods()
            self._drain(block_s=STATE_CHECK_S)
            found = diagnose_k8s_job(self._tracker, self._name)
            if self._tracker.was_seen(self._name) and self._ended(found):
                self._follow_started_pods()
                self._pump.finish(grace_s=LOG_LINGER_S, timeout_s=LOG_REREAD_S)
                self._drain(block_s=0)
                return self._settled(found)
            if deadline is not None and clock() >= deadline:
                raise K8sJobTimeout(
                    f"K8s Job {self._name} did not finish within timeout={self._settings.timeout_s:g}s "
                    f"(last state: {found.summary()})",
                    diagnosis=found,
                )

    def _settled(self, found: Diagnosis) -> Diagnosis:
        """A pod that exited because it was deleted (the Job controller enforcing
        `activeDeadlineSeconds`) is a consequence: wait briefly for the K8s Job's own reason."""
        if found.reason not in MAYBE_CONSEQUENCES or not self._pod_deleted(found.pod_name):
            return found
        self._tracker.wait_until(
            lambda: job_deadline_failure(self._tracker.k8s_job(self._name)) is not None,
            timeout_s=DELETED_POD_SETTLE_S,
        )
        return diagnose_k8s_job(self._tracker, self._name)

    def _pod_deleted(self, name: str | None) -> bool:
        pods = [p for p in self._tracker.pods_of(self._name) if pod_name(p) == name]
        return not pods or bool((pods[0].get("metadata") or {}).get("deletionTimestamp"))

    def _ended(self, found: Diagnosis) -> bool:
        """Failed, or succeeded as a whole: with `completions` > 1 one succeeded pod is not enough."""
        if found.failed:
            return True
        k8s_job = self._tracker.k8s_job(self._name) or {}
        complete = condition(k8s_job, "Complete")
        return found.state is K8sJobState.SUCCEEDED and bool(complete and complete.get("status") == "True")

    def _follow_started_pods(self) -> None:
        if not self._settings.follow_logs:
            return
        for pod in self._tracker.pods_of(self._name):
            if _state_of(pod, self._container) in ("running", "terminated"):
                name = pod_name(pod)
                if name not in self._pump.followed():
                    self._reporter.info(f"Following the log of pod {name}")
                self._pump.follow(name)

    def _drain(self, *, block_s: float) -> None:
        try:
            item = self._pump.lines.get(timeout=block_s) if block_s else self._pump.lines.get_nowait()
        except queue.Empty:
            return
        several = len(self._pump.followed()) > 1
        while True:
            self._reporter.line(_format(item, several))
            try:
                item = self._pump.lines.get_nowait()
            except queue.Empty:
                return


def job_deadline_failure(k8s_job: JsonDict | None) -> Diagnosis | None:
    """The K8s Job ran past `activeDeadlineSeconds`: the controller sets FailureTarget (then
    Failed) and kills the pods, whose exit codes are then a consequence, not the cause."""
    found = job_failure(k8s_job)
    return found if found is not None and found.reason is FailureReason.DEADLINE_EXCEEDED else None


def diagnose_k8s_job(tracker: K8sJobTracker, name: str, *, log_tail: str | None = None) -> Diagnosis:
    return job_deadline_failure(tracker.k8s_job(name)) or tracker.diagnose(name, log_tail=log_tail)


def _format(item: PodLine, several_pods: bool) -> str:
    return f"[{item.pod}] {item.text}" if several_pods else item.text


def _state_of(pod: JsonDict, container: str) -> str | None:
    """`waiting`, `running` or `terminated` for the container, None before it has a status."""
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        if status.get("name") == container:
            state = status.get("state") or {}
            return next((key for key in ("terminated", "running", "waiting") if state.get(key)), None)
    return None


def _container_state(tracker: K8sJobTracker, k8s_job: str, pod: str, container: str) -> str | None:
    for candidate in tracker.pods_of(k8s_job):
        if pod_name(candidate) == pod:
            return _state_of(candidate, container)
    return None


def _create(gateway: K8sGateway, namespace: str, rendered: RenderedK8sJob) -> None:
    try:
        gateway.create_k8s_job(namespace=namespace, manifest=rendered.manifest)
    except K8sConflict as err:
        raise K8sJobError(f"{err}; pass another k8s_job_name, or delete the old K8s Job") from err


def _with_log_tail(
    *,
    gateway: K8sGateway,
    tracker: K8sJobTracker,
    pump: LogPump,
    namespace: str,
    name: str,
    found: Diagnosis,
    tail_lines: int,
) -> Diagnosis:
    """Quote the failed container's last lines: from the streamed log, else one log read."""
    if found.reason not in RAN_REASONS or not found.pod_name:
        return found
    tail = pump.tail(found.pod_name)
    if tail is None:
        try:
            tail = gateway.read_pod_log_tail(
                namespace=namespace,
                pod=found.pod_name,
                container=found.container or "dagster",
                tail_lines=tail_lines,
            )
        except DagsterExtError:
            log.warning("could not read the log of pod %s", found.pod_name, exc_info=True)
    return diagnose_k8s_job(tracker, name, log_tail=tail) if tracker.k8s_job(name) else found


def _delete(gateway: K8sGateway, namespace: str, name: str, reporter: Reporter, *, why: str) -> None:
    try:
        if gateway.delete_k8s_job(namespace=namespace, name=name, propagation="Foreground"):
            reporter.info(f"Deleted K8s Job {namespace}/{name} and its pods because {why}")
    except Exception:  # never hide the original failure or interrupt behind a cleanup error
        log.warning("could not delete K8s Job %s/%s", namespace, name, exc_info=True)
