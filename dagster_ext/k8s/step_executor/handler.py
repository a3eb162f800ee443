"""`K8sStepHandler`: each step as a K8s Job whose pod inherits the run pod's spec.

Layers (later wins): run launcher config → code location → job-level tags (switchable) → executor
`step_k8s_config` → op/asset tags → `per_step_k8s_config[op]`. Creates run in a bounded pool;
health is answered from one watch-backed tracker per run and namespace (no per-step GETs).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster import MetadataValue
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.executor.step_delegating.step_handler.base import (
    CheckStepHealthResult,
    StepHandler,
    StepHandlerContext,
)
from dagster._core.storage.tags import DOCKER_IMAGE_TAG

from dagster_ext.k8s.client import K8sGateway
from dagster_ext.k8s.run_context import code_location_context, code_location_name, launcher_config_of
from dagster_ext.k8s.spec import (
    COMPRESSED_STEP_ARGS_ENV,
    DEFAULT_TTL_SECONDS,
    RenderedK8sJob,
    build_step_layers,
    merge_layers,
    render_step_k8s_job,
    sanitize_label_value,
    step_k8s_job_name,
)
from dagster_ext.k8s.status import DiagnosisSettings, FailureReason, K8sJobState
from dagster_ext.k8s.step_executor.launching import CreatePool
from dagster_ext.k8s.tracking import K8sJobTracker

SA_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
# A failed step pod usually wrote its own STEP_FAILURE event before exiting; give the executor's
# event-log tail a moment to see it, so the failure is not reported twice.
TERMINAL_FAILURE_SETTLE_S = 1.0


def run_label_selector(run_id: str) -> str:
    return f"dagster/run-id={sanitize_label_value(run_id)},app.kubernetes.io/component=step_worker"


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
        self._owner: dict[str, Any] | bool | None = False  # False: not looked up yet

    @property
    def name(self) -> str:
        return "dagster_ext.K8sStepHandler"

    # -- identity ------------------------------------------------------------------------------
    @staticmethod
    def _step_key(ctx: StepHandlerContext) -> str:
        keys = ctx.execute_step_args.step_keys_to_execute or []
        assert len(keys) == 1, "the K8s step executor launches one step per K8s Job"
        return str(keys[0])

    def _k8s_job_name(self, ctx: StepHandlerContext) -> str:
        step_key = self._step_key(ctx)
        known = ctx.execute_step_args.known_state
        attempt = known.get_retry_state().get_attempt_count(step_key) if known else 0
        return step_k8s_job_name(ctx.execute_step_args.run_id, step_key, attempt=attempt)

    # -- rendering -----------------------------------------------------------------------------
    def render(self, ctx: StepHandlerContext) -> RenderedK8sJob:
        """The step's K8s Job, validated (ConfigError names the offending key)."""
        step_key = self._step_key(ctx)
        run = ctx.dagster_run
        container_context, location_image = code_location_context(run)
        layers = build_step_layers(
            launcher_config=launcher_config_of(ctx.instance.run_launcher),
            container_context=container_context,
            code_location_image=location_image,
            run_tags=run.tags,
            executor_config=self._config,
            step_tags=ctx.step_tags[step_key],
            op_name=ctx.get_step_context(step_key).step.op_name,
            inherit_run_tags=bool(self._config.get("inherit_run_tags", True)),
            environ=self._environ,
        )
        merged = merge_layers(layers)
        env = {e["name"]: e["value"] for e in ctx.execute_step_args.get_command_env()}
        ttl = self._config.get("k8s_job_ttl_seconds")
        rendered = render_step_k8s_job(
            merged,
            run_id=run.run_id,
            dagster_job=run.job_name,
            step_key=step_key,
            compressed_step_args=env[COMPRESSED_STEP_ARGS_ENV],
            image=None if merged.image else run.tags.get(DOCKER_IMAGE_TAG),
            code_location=code_location_name(run),
            attempt=self._attempt(ctx, step_key),
            ttl_seconds_after_finished=DEFAULT_TTL_SECONDS if ttl is None else int(ttl),
        )
        owner = self._owner_reference(rendered.namespace or self._default_namespace(ctx))
        if owner:
            rendered.manifest["metadata"]["ownerReferences"] = [owner]
        return rendered

    @staticmethod
    def _attempt(ctx: StepHandlerContext, step_key: str) -> int:
        known = ctx.execute_step_args.known_state
        return known.get_retry_state().get_attempt_count(step_key) if known else 0

    def _default_namespace(self, ctx: StepHandlerContext) -> str:
        launcher = launcher_config_of(ctx.instance.run_launcher) or {}
        return str(self._config.get("job_namespace") or launcher.get("job_namespace") or "default")

    def _owner_reference(self, namespace: str) -> dict[str, Any] | None:
        """The run pod, when we run inside one in the same namespace (owner refs are namespaced)."""
        if not self._config.get("enable_owner_references", True):
            return None
        if self._owner is False:
            self._owner = None
            hostname = os.environ.get("HOSTNAME")
            pod_namespace = SA_NAMESPACE_FILE.read_text().strip() if SA_NAMESPACE_FILE.exists() else None
            if hostname and pod_namespace == namespace:
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
        if namespace is None or self._pool.in_flight(name):
            return CheckStepHealthResult.healthy()
        tracker = self._tracker(namespace, step_handler_context.execute_step_args.run_id)
        if tracker.k8s_job(name) is None:
            if tracker.was_seen(name):
                return CheckStepHealthResult.unhealthy(f"K8s Job {namespace}/{name} was deleted")
            return CheckStepHealthResult.healthy()  # created; the watch has not delivered it yet
        found = tracker.diagnose(name)
        if not found.failed:
            self._failure_seen_at.pop(name, None)
            return CheckStepHealthResult.healthy()
        first = self._failure_seen_at.setdefault(name, time.monotonic())
        terminal = found.reason in (FailureReason.EXIT_CODE, FailureReason.OOM_KILLED)
        if terminal and time.monotonic() - first < TERMINAL_FAILURE_SETTLE_S:
            return CheckStepHealthResult.healthy()
        if terminal and found.pod_name:
            tail = self._gateway.read_pod_log_tail(
                namespace=namespace,
                pod=found.pod_name,
                tail_lines=int(self._config.get("log_tail_lines") or 25),
            )
            found = tracker.diagnose(name, log_tail=tail)
        return CheckStepHealthResult.unhealthy(f"K8s Job {name}: {found.summary()}")

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
