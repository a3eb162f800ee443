"""`K8sStepHandler`: each step as a K8s Job whose pod inherits the run pod's spec.

Layers (later wins): run launcher config → code location → job-level tags (switchable) → executor
`step_k8s_config` → op/asset tags → `per_step_k8s_config[op]`. Creates run in a bounded pool;
health is answered from one watch-backed tracker per run and namespace (no per-step GETs); it
watches only the Jobs until a step needs pod details (see `K8sJobTracker`, pods="on_demand").
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster import MetadataValue

from dagster_ext.dagster_compat.runs import DagsterEvent, EngineEventData
from dagster_ext.dagster_compat.step_delegating import (
    CheckStepHealthResult,
    StepHandler,
    StepHandlerContext,
)
from dagster_ext.k8s.client import K8sGateway
from dagster_ext.k8s.reporting import failure_metadata
from dagster_ext.k8s.spec import RenderedK8sJob, step_k8s_job_name
from dagster_ext.k8s.spec.owners import pod_owner_reference
from dagster_ext.k8s.status import (
    RAN_REASONS,
    SELF_REPORTED_REASONS,
    Diagnosis,
    DiagnosisSettings,
    FailureReason,
    K8sJobState,
)
from dagster_ext.k8s.step_executor.launching import CreatePool
from dagster_ext.k8s.step_pods import (
    default_step_namespace,
    render_step_pod,
    run_label_selector,
    single_step_key,
    step_attempt,
    step_pool,
)
from dagster_ext.k8s.tracking import K8sJobTracker

SA_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
# A step pod that exited non-zero usually wrote its own STEP_FAILURE event first; give the
# executor's event-log tail a moment to see it, so the failure is not reported twice. An
# OOM-killed step process was SIGKILLed and wrote nothing: reported at once.
EXIT_FAILURE_SETTLE_S = 1.0


class K8sStepHandler(StepHandler):
    def __init__(
        self,
        *,
        executor_config: Mapping[str, Any],
        gateway: K8sGateway,
        diagnosis: DiagnosisSettings,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self._config = executor_config
        self._gateway = gateway
        self._diagnosis = diagnosis
        self._environ = dict(environ if environ is not None else os.environ)
        self._trackers: dict[str, K8sJobTracker] = {}
        self._pool = CreatePool(max_in_flight=int(executor_config.get("max_concurrent_creates") or 8))
        self._namespaces: dict[str, str] = {}  # K8s Job name -> namespace
        self._failure_seen_at: dict[str, float] = {}
        self._reported: set[str] = set()  # K8s Jobs whose failure event was written
        self._waits: set[tuple[str, str]] = set()  # (K8s Job, reason) of waits already reported
        self._owner: dict[str, Any] | bool | None = False  # False: not looked up yet

    @property
    def name(self) -> str:
        return "dagster_ext.K8sStepHandler"

    # -- identity ------------------------------------------------------------------------------
    @staticmethod
    def _step_key(ctx: StepHandlerContext) -> str:
        return single_step_key(ctx)

    def _k8s_job_name(self, ctx: StepHandlerContext) -> str:
        step_key = self._step_key(ctx)
        attempt = step_attempt(ctx, step_key)
        return step_k8s_job_name(ctx.execute_step_args.run_id, step_key, attempt=attempt)

    # -- rendering -----------------------------------------------------------------------------
    def render(self, ctx: StepHandlerContext) -> RenderedK8sJob:
        """The step's K8s Job, validated (ConfigError names the offending key)."""
        rendered = render_step_pod(ctx, executor_config=self._config, environ=self._environ)
        owner = self._owner_reference(rendered.namespace or self._default_namespace(ctx))
        if owner:
            rendered.manifest["metadata"]["ownerReferences"] = [owner]
        return rendered

    def _default_namespace(self, ctx: StepHandlerContext) -> str:
        return default_step_namespace(ctx.instance.run_launcher, self._config)

    def _owner_reference(self, namespace: str) -> dict[str, Any] | None:
        """The run pod, when we run inside one in the same namespace (owner refs are namespaced).

        Our launcher's run pods know their own UID (downward API); a run pod started by another
        launcher costs one `GET pod` by `HOSTNAME`, once per run worker.
        """
        if not self._config.get("enable_owner_references", True):
            return None
        if self._owner is False:
            self._owner = pod_owner_reference(self._environ, namespace=namespace)
            hostname = self._environ.get("HOSTNAME")
            pod_namespace = SA_NAMESPACE_FILE.read_text().strip() if SA_NAMESPACE_FILE.exists() else None
            if self._owner is None and hostname and pod_namespace == namespace:
                pod = self._gateway.read_pod(namespace=namespace, name=hostname)
                if pod:
                    meta = pod["metadata"]
                    self._owner = {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "name": meta["name"],
                        "uid": meta["uid"],
                    }
        return self._owner if isinstance(self._owner, dict) else None

    # -- tracking ------------------------------------------------------------------------------
    def _tracker(self, namespace: str, run_id: str) -> K8sJobTracker:
        tracker = self._trackers.get(namespace)
        if tracker is None:
            tracker = K8sJobTracker(
                self._gateway,
                namespace=namespace,
                label_selector=run_label_selector(run_id),
                diagnosis=self._diagnosis,
                pods="on_demand",
            ).start()
            self._trackers[namespace] = tracker
        return tracker

    # -- StepHandler ---------------------------------------------------------------------------
    def launch_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        ctx = step_handler_context
        step_key = self._step_key(ctx)
        rendered = self.render(ctx)
        namespace = rendered.namespace or self._default_namespace(ctx)
        self._namespaces[rendered.name] = namespace
        self._tracker(namespace, ctx.execute_step_args.run_id)
        yield DagsterEvent.step_worker_starting(
            ctx.get_step_context(step_key),
            message=f'Executing step "{step_key}" in K8s Job {rendered.name} (namespace {namespace}).',
            metadata={
                "K8s Job": MetadataValue.text(rendered.name),
                "Kubernetes namespace": MetadataValue.text(namespace),
            },
        )
        manifest = rendered.manifest
        self._pool.submit(
            rendered.name, lambda: self._gateway.create_k8s_job(namespace=namespace, manifest=manifest)
        )

    def check_step_health(self, step_handler_context: StepHandlerContext) -> CheckStepHealthResult:
        name = self._k8s_job_name(step_handler_context)
        error = self._pool.error(name)
        if error is not None:
            return CheckStepHealthResult.unhealthy(f"could not create K8s Job {name}: {error}")
        namespace = self._namespaces.get(name)
        if namespace is None:  # launched by an earlier run worker of this run: a resumed run
            return self._adopt(step_handler_context, name)
        if self._pool.in_flight(name):
            return CheckStepHealthResult.healthy()
        tracker = self._tracker(namespace, step_handler_context.execute_step_args.run_id)
        if tracker.k8s_job(name) is None:
            if tracker.was_seen(name):  # deleted under the step: by hand, a TTL, or garbage collection
                gone = tracker.diagnose(name)
                self._report_failure(step_handler_context, name=name, namespace=namespace, found=gone)
                return CheckStepHealthResult.unhealthy(gone.failure_text(f"K8s Job {namespace}/{name} was"))
            return CheckStepHealthResult.healthy()  # created; the watch has not delivered it yet
        found = tracker.observe(name)
        if not found.failed:
            self._failure_seen_at.pop(name, None)
            self._report_wait(step_handler_context, name=name, namespace=namespace, found=found)
            return CheckStepHealthResult.healthy()
        first = self._failure_seen_at.setdefault(name, time.monotonic())
        if found.reason in SELF_REPORTED_REASONS and time.monotonic() - first < EXIT_FAILURE_SETTLE_S:
            return CheckStepHealthResult.healthy()
        if found.reason in RAN_REASONS and found.pod_name:
            tail = self._gateway.read_pod_log_tail(
                namespace=namespace,
                pod=found.pod_name,
                container=found.container or "dagster",
                tail_lines=int(self._config.get("log_tail_lines") or 25),
            )
            found = tracker.diagnose(name, log_tail=tail)
        self._report_failure(step_handler_context, name=name, namespace=namespace, found=found)
        return CheckStepHealthResult.unhealthy(found.failure_text(f"K8s Job {name}"))

    def _adopt(self, ctx: StepHandlerContext, name: str) -> CheckStepHealthResult:
        """A step in flight when the run worker before this one died. Its K8s Job, if it is still
        there, carries on and reports through the event log: follow it (the Jobs watch delivers it
        as ADDED). If it is gone, say so, and Dagster launches the step again."""
        namespace = self.render(ctx).namespace or self._default_namespace(ctx)
        self._namespaces[name] = namespace
        self._tracker(namespace, ctx.execute_step_args.run_id)
        if self._gateway.read_k8s_job(namespace=namespace, name=name) is None:
            return CheckStepHealthResult.unhealthy(
                f"K8s Job {namespace}/{name} of the earlier run worker no longer exists"
            )
        return CheckStepHealthResult.healthy()

    def _report_wait(self, ctx: StepHandlerContext, *, name: str, namespace: str, found: Diagnosis) -> None:
        """Say why a step pod waits (unschedulable, pulling, crash-looping) while it waits, once per
        reason: the step may sit there for its grace period, and the log should not look idle."""
        if found.reason is None or (name, found.reason.value) in self._waits:
            return
        self._waits.add((name, found.reason.value))
        step_key = self._step_key(ctx)
        metadata = failure_metadata(found, k8s_job=name, namespace=namespace)
        DagsterEvent.engine_event(
            ctx.get_step_context(step_key),
            message=f"Step pod waiting: {found.headline()}",
            event_specific_data=EngineEventData(metadata=metadata),
        )
        pool = step_pool(ctx, step_key)
        if pool and found.reason is FailureReason.UNSCHEDULABLE:
            self._report_held_slot(ctx, step_key=step_key, pool=pool, metadata=metadata)

    @staticmethod
    def _report_held_slot(
        ctx: StepHandlerContext, *, step_key: str, pool: str, metadata: Mapping[str, Any]
    ) -> None:
        """Pools count claimed slots, not running pods: a slot whose pod the scheduler cannot place
        is capacity the pool reports as used while nothing runs. Say so, so that a pool that looks
        full while the cluster idles explains itself."""
        DagsterEvent.engine_event(
            ctx.get_step_context(step_key),
            message=(
                f'Step "{step_key}" holds a slot of pool "{pool}" while its pod cannot be scheduled: '
                "the slot stays claimed, and other runs wait for it, until the pod runs or the step fails."
            ),
            event_specific_data=EngineEventData(metadata={**metadata, "pool": MetadataValue.text(pool)}),
        )

    def _report_failure(
        self, ctx: StepHandlerContext, *, name: str, namespace: str, found: Diagnosis
    ) -> None:
        """One engine event per failed step K8s Job, with the diagnosis as metadata: Dagster's own
        failure event for a health check carries only text. A retryable disruption is reported as
        what it is (preempted, evicted) and left to the op's RetryPolicy."""
        if name in self._reported:
            return
        self._reported.add(name)
        DagsterEvent.engine_event(
            ctx.get_step_context(self._step_key(ctx)),
            message=f"Step pod {found.verb}: {found.headline()}",
            event_specific_data=EngineEventData(
                metadata=failure_metadata(found, k8s_job=name, namespace=namespace)
            ),
        )

    def terminate_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        ctx = step_handler_context
        step_key = self._step_key(ctx)
        name = self._k8s_job_name(ctx)
        namespace = self._namespaces.get(name) or self._default_namespace(ctx)
        yield DagsterEvent.engine_event(
            ctx.get_step_context(step_key),
            message=f"Deleting K8s Job {namespace}/{name} and its pods",
            event_specific_data=EngineEventData(),
        )
        self._pool.wait(name, timeout_s=30)
        self._gateway.delete_k8s_job(namespace=namespace, name=name, propagation="Foreground")

    # -- end of run ----------------------------------------------------------------------------
    def finish(self, *, run_id: str, run_succeeded: bool) -> list[str]:
        """Stop watching; delete step K8s Jobs still running if the run did not succeed, and
        finished ones per `cleanup`. A succeeded run's last step pod may still be exiting.

        One delete-collection request per namespace, not one per step.
        """
        self._pool.shutdown()
        deleted: list[str] = []
        policy = str(self._config.get("cleanup") or "none")
        for namespace, tracker in self._trackers.items():
            unfinished = [
                name
                for name in self._namespaces
                if self._namespaces[name] == namespace
                and tracker.k8s_job(name) is not None
                and tracker.diagnose(name).state in (K8sJobState.PENDING, K8sJobState.RUNNING)
            ]
            tracker.stop()
            if policy == "always" or (policy == "on_success" and run_succeeded):
                deleted += self._gateway.delete_k8s_jobs(
                    namespace=namespace, label_selector=run_label_selector(run_id), propagation="Background"
                )
            elif not run_succeeded:  # interrupted or crashed: never leave step pods running
                for name in unfinished:
                    if self._gateway.delete_k8s_job(namespace=namespace, name=name, propagation="Foreground"):
                        deleted.append(name)
        self._trackers.clear()
        return deleted
