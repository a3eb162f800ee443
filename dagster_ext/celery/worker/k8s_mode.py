"""`step_mode: k8s_job`: the Celery worker runs the step as a K8s Job and holds its slot meanwhile.

The run worker renders the step K8s Job exactly as the K8s step executor does (`render_step_pod`:
the pod inherits the run pod's spec) and ships the manifest in the task message. The Celery worker,
after winning the step's claim, creates the K8s Job (adopting one a lost worker already created),
waits on it through a watch-backed `K8sJobTracker` (no polling) while `holding_claim` renews the
lease, and turns a failed K8s Job's diagnosis (OOMKilled, ImagePullBackOff, ...) into the step's
failure reason. Run terminated or time limit: it deletes the K8s Job. Claim lost or worker
stopping: it leaves the Job and the claim (`ClaimHandedOver`) for the next claimant to adopt.
A Job a lost worker created is never created a second time, even when it is gone.
The pod runs `dagster api execute_step`, which writes the step's events to the event log.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from dagster import DagsterEventType, DagsterInstance

from dagster_ext.celery.claims import ClaimBackend, ClaimHandedOver, Outcome, open_claim_store
from dagster_ext.celery.k8s_steps import K8sModeError, K8sStepSpec, delete_quietly, step_gateway
from dagster_ext.celery.messages import StepMessage
from dagster_ext.celery.worker.code_cache import CODE_CACHE
from dagster_ext.celery.worker.running import run_to_execute
from dagster_ext.dagster_compat.runs import DagsterExecutionInterruptedError, DagsterRun, EngineEventData
from dagster_ext.errors import DagsterExtError
from dagster_ext.k8s.client import K8sConflict, K8sGateway
from dagster_ext.k8s.reporting import failure_metadata
from dagster_ext.k8s.status import (
    RAN_REASONS,
    SELF_REPORTED_REASONS,
    Diagnosis,
    FailureReason,
)
from dagster_ext.k8s.step_pods import (
    run_label_selector,
)
from dagster_ext.k8s.tracking import K8sJobTracker

log = logging.getLogger(__name__)
SYNC_TIMEOUT_S = 60.0
# A pod that exited non-zero usually wrote its own STEP_FAILURE first; give the run worker's
# event-log tail a moment to see it before the claim reports the K8s Job's failure.
TERMINAL_FAILURE_SETTLE_S = 1.0
EXITED = RAN_REASONS  # the pod ran and ended: keep its K8s Job
# Each attempt of a step ends with exactly one of these.
STEP_ENDED = {
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_UP_FOR_RETRY,
}


# -- worker side ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _StepK8sJob:
    """One claimed step's K8s Job and the handles the worker needs while it runs."""

    message: StepMessage
    spec: K8sStepSpec
    gateway: K8sGateway
    tracker: K8sJobTracker
    store: ClaimBackend
    instance: DagsterInstance
    worker: str

    @property
    def where(self) -> str:
        return f"{self.spec.namespace}/{self.spec.name}"


def execute_step_as_k8s_job(message: StepMessage, *, worker: str) -> Outcome:
    """Create (or adopt) the step K8s Job, wait until it ends; raise K8sModeError naming why it failed."""
    spec = K8sStepSpec.from_payload(message.k8s)
    instance = CODE_CACHE.instance(message.execute_step_args().instance_ref)  # type: ignore[arg-type]
    run = run_to_execute(instance, message.run_id, message.step_key)
    if run is None:
        return Outcome.SKIPPED
    gateway = step_gateway(spec.connection)
    tracker = K8sJobTracker(
        gateway,
        namespace=spec.namespace,
        label_selector=run_label_selector(message.run_id),
        diagnosis=spec.diagnosis,
    ).start()
    job = _StepK8sJob(message, spec, gateway, tracker, open_claim_store(message.claims_url), instance, worker)
    try:
        found = _run_or_adopt(job, run)
    except BaseException as err:  # interrupted (terminate, lost claim, time limit) or broken
        _hand_over_or_delete(job, err)
        raise
    finally:
        tracker.stop()
    if found is not None and found.reason is FailureReason.DELETED and _run_canceled(job):
        return Outcome.CANCELED  # the run worker deleted it on terminate
    if found is not None and found.failed:
        found = _explain(gateway, tracker, spec, found)
        _report_failure(job, run, found)
        if found.reason not in EXITED:  # a stuck pod (image pull, unschedulable) would stay forever
            delete_quietly(gateway, spec)
        raise K8sModeError(found.failure_text(f"K8s Job {spec.name}"))
    return Outcome.OK


def _report_failure(job: _StepK8sJob, run: DagsterRun, found: Diagnosis) -> None:
    """The diagnosis as event metadata for alerts (the step's failure event, written by the run
    worker from the claim's error text, carries none)."""
    try:
        job.instance.report_engine_event(
            f"Step pod {found.verb}: {found.headline()}",
            run,
            EngineEventData(failure_metadata(found, k8s_job=job.spec.name, namespace=job.spec.namespace)),
            step_key=job.message.step_key,
        )
    except Exception:  # never hide the failure itself behind an event-log error
        log.warning("could not report the failure of K8s Job %s", job.where, exc_info=True)


def _run_or_adopt(job: _StepK8sJob, run: DagsterRun) -> Diagnosis | None:
    """How the step K8s Job ended; None when it is gone but the step's own events say it ended."""
    verb = _create_or_adopt(job)
    if verb is None:
        return None
    log.info("%s K8s Job %s", verb, job.where)
    job.instance.report_engine_event(
        f'Celery worker {job.worker} {verb} K8s Job {job.where} for step "{job.message.step_key}"',
        run,
        step_key=job.message.step_key,
    )
    return _wait_for_end(job.tracker, job.spec.name)


def _create_or_adopt(job: _StepK8sJob) -> str | None:
    """`created`, or `adopted` for a K8s Job a lost worker created (the claim makes us its owner).

    A Job that an earlier holder created and that is gone now (deleted, or removed by its TTL
    while the re-dispatched step waited in the queue) is not created again: the step's body must
    not run twice. None if the step's events show it ended; else K8sModeError.
    """
    spec, tracker = job.spec, job.tracker
    if not tracker.wait_synced(timeout_s=SYNC_TIMEOUT_S):
        raise K8sModeError(f"watches on namespace {spec.namespace} did not sync in {SYNC_TIMEOUT_S:.0f}s")
    log.info("watches on %s synced", spec.namespace)
    if tracker.k8s_job(spec.name) is not None:
        return "adopted"
    creator = _earlier_creator(job)
    if creator is not None:
        _check_ended_without_its_k8s_job(job, creator)
        return None
    try:
        job.gateway.create_k8s_job(namespace=spec.namespace, manifest=spec.manifest)
    except K8sConflict:
        return "adopted"
    step = job.message.step
    job.store.record(step.run_id, "k8s_job_created", step_key=step.step_key, attempt=step.attempt,
                     worker=job.worker, k8s_job=spec.name)  # fmt: skip
    return "created"


def _earlier_creator(job: _StepK8sJob) -> str | None:
    """The worker that created this step attempt's K8s Job, per the claim log, if any did."""
    step = job.message.step
    for entry in job.store.claim_log(step.run_id):
        if entry.get("event") != "k8s_job_created":
            continue
        if (entry.get("step_key"), entry.get("attempt")) == (step.step_key, step.attempt):
            return str(entry.get("worker"))
    return None


def _check_ended_without_its_k8s_job(job: _StepK8sJob, creator: str) -> None:
    """Pass if this attempt's own events say it ended (the pod wrote them); else K8sModeError."""
    step = job.message.step
    records = job.instance.all_logs(step.run_id, of_type=STEP_ENDED)
    ended = [r for r in records if r.dagster_event is not None and r.dagster_event.step_key == step.step_key]
    if len(ended) > step.attempt:  # one ending event per attempt: this attempt reported itself
        log.info("K8s Job %s is gone; step %s already reported its end", job.where, step.ident)
        return
    raise K8sModeError(
        f"K8s Job {job.where}, created by Celery worker {creator} (lost since), is gone (deleted, or "
        "removed by ttlSecondsAfterFinished) and the step reported no result; it is not run twice"
    )


def _hand_over_or_delete(job: _StepK8sJob, err: BaseException) -> None:
    """Delete the K8s Job, unless the interrupt came from a lost claim or a stopping worker.

    Then the Job runs on, and the worker that claims the re-dispatched step adopts it: deleting it
    would kill a step another worker may be watching already. Terminate and the step time limit
    delete it (no orphan pod), as does any error of ours.
    """
    if isinstance(err, (DagsterExecutionInterruptedError, KeyboardInterrupt)) and not _run_canceled(job):
        raise ClaimHandedOver(
            f"K8s Job {job.where} keeps running ({type(err).__name__}: the claim was lost or the worker "
            "is stopping); the worker that claims the step next adopts it"
        ) from err
    delete_quietly(job.gateway, job.spec)


def _run_canceled(job: _StepK8sJob) -> bool:
    try:
        return job.store.is_canceled(job.message.run_id)
    except Exception:  # unreachable store: keep the Job; killing an adopted step is the worse mistake
        log.warning("could not read the cancel flag of run %s", job.message.run_id, exc_info=True)
        return False


def _wait_for_end(tracker: K8sJobTracker, name: str) -> Diagnosis:
    """Block on watch events until the K8s Job succeeded, failed or vanished after being seen."""

    def ended() -> bool:
        if tracker.errors:
            return True
        return tracker.was_seen(name) and tracker.diagnose(name).done

    tracker.wait_until(ended)
    if tracker.errors:
        raise K8sModeError(f"watching K8s Job {name} failed: {tracker.errors[0]}")
    found = tracker.diagnose(name)
    log.info("K8s Job %s ended: %s", name, found.summary())
    return found


def _explain(gateway: K8sGateway, tracker: K8sJobTracker, spec: K8sStepSpec, found: Diagnosis) -> Diagnosis:
    """The diagnosis with the failed container's last log lines."""
    if found.reason in EXITED and found.pod_name:
        if found.reason in SELF_REPORTED_REASONS:
            time.sleep(TERMINAL_FAILURE_SETTLE_S)
        try:
            tail = gateway.read_pod_log_tail(
                namespace=spec.namespace,
                pod=found.pod_name,
                container=found.container or "dagster",
                tail_lines=spec.log_tail_lines,
            )
            found = tracker.diagnose(spec.name, log_tail=tail) if tracker.k8s_job(spec.name) else found
        except DagsterExtError:
            log.warning("could not read the log of pod %s", found.pod_name, exc_info=True)
    return found
