"""`step_mode: k8s_job`: the Celery worker runs the step as a K8s Job and holds its slot meanwhile.

The run worker renders the step K8s Job exactly as the K8s step executor does (`render_step_pod`:
the pod inherits the run pod's spec) and ships the manifest in the task message. The Celery worker,
after winning the step's claim, creates the K8s Job (adopting one a lost worker already created),
waits on it through a watch-backed `K8sJobTracker` (no polling) while `holding_claim` renews the
lease, and turns a failed K8s Job's diagnosis (OOMKilled, ImagePullBackOff, ...) into the step's
failure reason. Interrupted (run terminated, claim lost, time limit), it deletes the K8s Job.
The pod runs `dagster api execute_step`, which writes the step's events to the event log.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dagster import Bool, Field, Map, Noneable, StringSource
from dagster._core.executor.step_delegating.step_handler.base import StepHandlerContext

from dagster_ext.celery.claims import Outcome
from dagster_ext.celery.code_cache import CODE_CACHE
from dagster_ext.celery.handler import MessageExtras
from dagster_ext.celery.messages import StepMessage
from dagster_ext.celery.running import run_to_execute
from dagster_ext.errors import DagsterExtError
from dagster_ext.k8s.client import ConnectionSettings, K8sConflict, K8sGateway
from dagster_ext.k8s.config_schema import container_fields, dagster_ext_fields, k8s_config_shape
from dagster_ext.k8s.status import Diagnosis, DiagnosisSettings, FailureReason
from dagster_ext.k8s.step_pods import (
    default_step_namespace,
    diagnosis_settings,
    render_step_pod,
    run_label_selector,
    step_connection,
)
from dagster_ext.k8s.tracking import K8sJobTracker

log = logging.getLogger(__name__)
SYNC_TIMEOUT_S = 60.0
# A pod that exited non-zero usually wrote its own STEP_FAILURE first; give the run worker's
# event-log tail a moment to see it before the claim reports the K8s Job's failure.
TERMINAL_FAILURE_SETTLE_S = 1.0
EXITED = (FailureReason.EXIT_CODE, FailureReason.OOM_KILLED)  # the pod ran and ended: keep its K8s Job


class K8sModeError(DagsterExtError):
    """The step K8s Job could not be run, or it failed."""


def k8s_mode_config_schema() -> dict[str, Field]:
    """The K8s step executor's pod keys (same names, same meaning); used when `step_mode: k8s_job`."""
    return {
        **container_fields(),
        "load_incluster_config": Field(bool, is_required=False),
        "kubeconfig_file": Field(Noneable(str), is_required=False),
        "job_namespace": Field(StringSource, is_required=False),
        "step_k8s_config": Field(k8s_config_shape(), is_required=False),
        "per_step_k8s_config": Field(
            Map(str, k8s_config_shape(), key_label_name="step_name"), is_required=False, default_value={}
        ),
        "inherit_run_tags": Field(
            Bool,
            is_required=False,
            default_value=True,
            description="k8s_job mode: step pods include the job-level dagster-k8s/config tag.",
        ),
        **dagster_ext_fields(),
    }


@dataclass(frozen=True)
class K8sStepSpec:
    """What the Celery worker needs to run one step K8s Job (the message's `k8s` field)."""

    namespace: str
    manifest: dict[str, Any]
    connection: ConnectionSettings
    diagnosis: DiagnosisSettings
    log_tail_lines: int = 25

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    def to_payload(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_payload(payload: Mapping[str, Any]) -> K8sStepSpec:
        if not payload.get("manifest"):
            raise K8sModeError("the task message carries no step K8s Job (sent by an older run worker?)")
        return K8sStepSpec(
            namespace=str(payload["namespace"]),
            manifest=dict(payload["manifest"]),
            connection=ConnectionSettings(**payload["connection"]),
            diagnosis=DiagnosisSettings(**payload["diagnosis"]),
            log_tail_lines=int(payload.get("log_tail_lines", 25)),
        )


def k8s_message_extras(config: Mapping[str, Any]) -> MessageExtras:
    """Run worker side: render each step's K8s Job into its task message."""
    executor_config = dict(config)

    def extras(ctx: StepHandlerContext, step_key: str) -> dict[str, Any]:
        launcher = ctx.instance.run_launcher
        rendered = render_step_pod(ctx, executor_config=executor_config, environ=os.environ)
        spec = K8sStepSpec(
            namespace=rendered.namespace or default_step_namespace(launcher, executor_config),
            manifest=rendered.manifest,
            connection=step_connection(executor_config, launcher),
            diagnosis=diagnosis_settings(executor_config),
            log_tail_lines=int(executor_config.get("log_tail_lines") or 25),
        )
        return {"k8s": spec.to_payload()}

    return extras


# -- worker side ---------------------------------------------------------------------------------
_gateways: dict[tuple[int, ConnectionSettings], K8sGateway] = {}
_gateways_lock = threading.Lock()


def _gateway(settings: ConnectionSettings) -> K8sGateway:
    """One gateway (one connection pool) per worker process and connection settings."""
    key = (os.getpid(), settings)
    with _gateways_lock:
        gateway = _gateways.get(key)
        if gateway is None:
            gateway = _gateways[key] = K8sGateway(settings)
        return gateway


def execute_step_as_k8s_job(message: StepMessage, *, worker: str) -> Outcome:
    """Create the step K8s Job, wait until it ends; raise K8sModeError naming why it failed."""
    spec = K8sStepSpec.from_payload(message.k8s)
    args = message.execute_step_args()
    instance = CODE_CACHE.instance(args.instance_ref)  # type: ignore[arg-type]
    run = run_to_execute(instance, message.run_id, message.step_key)
    if run is None:
        return Outcome.SKIPPED
    gateway = _gateway(spec.connection)
    tracker = K8sJobTracker(
        gateway,
        namespace=spec.namespace,
        label_selector=run_label_selector(message.run_id),
        diagnosis=spec.diagnosis,
    ).start()
    try:
        verb = _create_or_adopt(gateway, tracker, spec)
        where = f"{spec.namespace}/{spec.name}"
        log.info("%s K8s Job %s", verb, where)
        instance.report_engine_event(
            f'Celery worker {worker} {verb} K8s Job {where} for step "{message.step_key}"',
            run,
            step_key=message.step_key,
        )
        found = _wait_for_end(tracker, spec.name)
    except BaseException:  # interrupted (terminate, lost claim, time limit) or broken: no orphan pod
        _delete_quietly(gateway, spec)
        raise
    finally:
        tracker.stop()
    if found.failed:
        reason = _explain(gateway, tracker, spec, found)
        if found.reason not in EXITED:  # a stuck pod (image pull, unschedulable) would stay forever
            _delete_quietly(gateway, spec)
        raise K8sModeError(f"K8s Job {spec.name}: {reason}")
    return Outcome.OK


def _create_or_adopt(gateway: K8sGateway, tracker: K8sJobTracker, spec: K8sStepSpec) -> str:
    if not tracker.wait_synced(timeout_s=SYNC_TIMEOUT_S):
        raise K8sModeError(f"watches on namespace {spec.namespace} did not sync in {SYNC_TIMEOUT_S:.0f}s")
    log.info("watches on %s synced", spec.namespace)
    if tracker.k8s_job(spec.name) is not None:
        return "adopted"  # a worker that was lost created it; the claim says we own the step now
    try:
        gateway.create_k8s_job(namespace=spec.namespace, manifest=spec.manifest)
    except K8sConflict:
        return "adopted"
    return "created"


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


def _explain(gateway: K8sGateway, tracker: K8sJobTracker, spec: K8sStepSpec, found: Diagnosis) -> str:
    if found.reason in EXITED and found.pod_name:
        if found.reason is FailureReason.EXIT_CODE:
            time.sleep(TERMINAL_FAILURE_SETTLE_S)
        try:
            tail = gateway.read_pod_log_tail(
                namespace=spec.namespace, pod=found.pod_name, tail_lines=spec.log_tail_lines
            )
            found = tracker.diagnose(spec.name, log_tail=tail) if tracker.k8s_job(spec.name) else found
        except DagsterExtError:
            log.warning("could not read the log of pod %s", found.pod_name, exc_info=True)
    return found.summary()


def _delete_quietly(gateway: K8sGateway, spec: K8sStepSpec) -> None:
    try:
        gateway.delete_k8s_job(namespace=spec.namespace, name=spec.name, propagation="Background")
        log.info("deleted step K8s Job %s/%s", spec.namespace, spec.name)
    except Exception:
        log.warning("could not delete step K8s Job %s/%s", spec.namespace, spec.name, exc_info=True)
