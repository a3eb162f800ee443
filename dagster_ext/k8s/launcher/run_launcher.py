"""`K8sRunLauncher`: one Kubernetes Job per Dagster run.

Config-compatible with dagster_k8s.K8sRunLauncher (switch by changing `module:` only). What we add:
the pod spec comes from the shared pod-spec model (validated before any K8s Job exists, errors name
the key path), creates are idempotent across retries, termination deletes pods too, and health
checks name *why* a run worker died (OOMKilled, exit code + log tail, image pull, ...).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from typing_extensions import Self

from dagster_ext.dagster_compat.launching import (
    CheckRunHealthResult,
    ExecuteRunArgs,
    LaunchRunContext,
    ResumeRunArgs,
    ResumeRunContext,
    RunLauncher,
    WorkerStatus,
)
from dagster_ext.dagster_compat.runs import (
    DOCKER_IMAGE_TAG,
    ConfigurableClass,
    ConfigurableClassData,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    EngineEventData,
    check,
)
from dagster_ext.k8s.client import ConnectionSettings, K8sGateway
from dagster_ext.k8s.config_schema import launcher_config_schema, normalized
from dagster_ext.k8s.launcher import health
from dagster_ext.k8s.launcher.manifest import RenderedRun, render_run
from dagster_ext.k8s.launcher.overrides import overridden_settings
from dagster_ext.k8s.reporting import failure_metadata
from dagster_ext.k8s.status import Diagnosis, DiagnosisSettings, K8sJobState

log = logging.getLogger(__name__)


class K8sRunLauncher(RunLauncher, ConfigurableClass):
    """Launches each Dagster run as a Kubernetes Job (`dagster-run-<run id>`)."""

    def __init__(self, inst_data: ConfigurableClassData | None = None, **config: Any) -> None:
        self._inst_data = inst_data
        unknown = (
            set(config) - set(launcher_config_schema()) - {"k8s_client_batch_api", "k8s_client_core_api"}
        )
        check.invariant(not unknown, f"K8sRunLauncher got unknown config keys: {sorted(unknown)}")
        self._config = normalized(config)
        # The keys the user wrote (the processed config also holds the schema's defaults).
        self._explicit_keys = frozenset(inst_data.config_dict) if inst_data is not None else frozenset(config)
        self._gateway: K8sGateway | None = None
        self._reported: set[tuple[str, str]] = set()  # (run id, K8s Job) whose failure event was written
        super().__init__()

    # -- ConfigurableClass ------------------------------------------------------------------
    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return launcher_config_schema()

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]) -> Self:
        return cls(inst_data=inst_data, **config_value)

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    # -- settings ----------------------------------------------------------------------------
    @property
    def config(self) -> Mapping[str, Any]:
        """The normalised launcher config (every schema key present); read by the step executor."""
        return self._config

    def __getattr__(self, name: str) -> Any:
        # dagster-k8s exposes each config key as an attribute; tools and executors rely on that.
        config = self.__dict__.get("_config")
        if config is not None and name in config:
            return config[name]
        raise AttributeError(name)

    @property
    def job_namespace(self) -> str:
        return str(self._config["job_namespace"] or "default")

    @property
    def gateway(self) -> K8sGateway:
        if self._gateway is None:
            self._gateway = K8sGateway(
                ConnectionSettings(
                    load_incluster_config=bool(self._config["load_incluster_config"]),
                    kubeconfig_file=self._config["kubeconfig_file"],
                    ssl_ca_cert_file=self._config["k8s_api_ssl_ca_cert_file"],
                )
            )
        return self._gateway

    @property
    def diagnosis_settings(self) -> DiagnosisSettings:
        return DiagnosisSettings.from_config(self._config)

    @property
    def log_tail_lines(self) -> int:
        return int(self._config.get("log_tail_lines") or 25)

    # -- launching ---------------------------------------------------------------------------
    def render_run(self, run: DagsterRun, *, args: Sequence[str], resume_attempt: int = 0) -> RenderedRun:
        """The run worker's K8s Job, validated; raises ConfigError naming the bad key."""
        return render_run(self._config, run, args=args, resume_attempt=resume_attempt, environ=os.environ)

    def _worker_args(
        self, args_class: type[ExecuteRunArgs] | type[ResumeRunArgs], run: DagsterRun
    ) -> list[str]:
        """`dagster api execute_run ...` / `resume_run ...` for the run worker's container."""
        return list(
            args_class(
                job_origin=check.not_none(run.job_code_origin),
                run_id=run.run_id,
                instance_ref=self._instance.get_ref(),
                set_exit_code_on_failure=self._config["fail_pod_on_run_failure"],
            ).get_command_args()
        )

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        self._launch(run, self.render_run(run, args=self._worker_args(ExecuteRunArgs, run)))

    @property
    def supports_resume_run(self) -> bool:
        return True

    def resume_run(self, context: ResumeRunContext) -> None:
        run = context.dagster_run
        args = self._worker_args(ResumeRunArgs, run)
        self._launch(run, self.render_run(run, args=args, resume_attempt=context.resume_attempt_number or 0))

    def _launch(self, run: DagsterRun, rendered: RenderedRun) -> None:
        self._instance.add_run_tags(run.run_id, {DOCKER_IMAGE_TAG: rendered.image})
        self._warn_about_overrides(run, rendered)
        self._instance.report_engine_event(
            f"Creating K8s Job {rendered.k8s_job_name} in namespace {rendered.namespace}",
            run,
            EngineEventData(
                {
                    "K8s Job": rendered.k8s_job_name,
                    "Kubernetes namespace": rendered.namespace,
                    "Image": rendered.image,
                    "Run ID": run.run_id,
                }
            ),
            cls=self.__class__,
        )
        self.gateway.create_k8s_job(namespace=rendered.namespace, manifest=rendered.manifest)
        self._instance.report_engine_event(
            f"K8s Job {rendered.k8s_job_name} created", run, cls=self.__class__
        )

    def _warn_about_overrides(self, run: DagsterRun, rendered: RenderedRun) -> None:
        """A container context that replaced the launcher's namespace or ServiceAccount, in the
        daemon's log and the run's event log (keys only, never values)."""
        explicit = {key: self._config[key] for key in self._explicit_keys if key in self._config}
        for note in overridden_settings(explicit, rendered):
            log.warning("run %s: %s", run.run_id, note)
            self._instance.report_engine_event(
                f"Run launcher setting replaced: {note}", run, cls=self.__class__
            )

    # -- the run worker's identity -----------------------------------------------------------
    def _current_k8s_job(self, run: DagsterRun) -> tuple[str, str]:
        """(namespace, name) of the K8s Job of the run's latest attempt, without re-validating."""
        from dagster_ext.k8s.launcher.manifest import run_namespace
        from dagster_ext.k8s.spec import run_k8s_job_name

        attempt = self._instance.count_resume_run_attempts(run.run_id) if self._instance else 0
        return run_namespace(self._config, run), run_k8s_job_name(run.run_id, resume_attempt=attempt)

    # -- termination --------------------------------------------------------------------------
    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if not run or run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        namespace, name = self._current_k8s_job(run)
        try:
            deleted = self.gateway.delete_k8s_job(namespace=namespace, name=name, propagation="Foreground")
        except Exception as err:
            self._instance.report_engine_event(
                f"Could not delete K8s Job {namespace}/{name}: {err}", run, cls=self.__class__
            )
            return False
        self._instance.report_engine_event(
            f"Deleted K8s Job {namespace}/{name} and its pods"
            if deleted
            else f"K8s Job {namespace}/{name} was gone",
            run,
            cls=self.__class__,
        )
        # The launcher only holds a weak reference to its instance; the thread keeps a strong one.
        threading.Thread(
            target=self._finish_cancel,
            args=(self._instance, run_id, namespace, name),
            name=f"cancel-{run_id[:8]}",
            daemon=True,
        ).start()
        return True

    def _finish_cancel(
        self, instance: DagsterInstance, run_id: str, namespace: str, name: str, timeout_s: float = 60.0
    ) -> None:
        """If the run worker died before recording the cancellation, record it once its pods are gone."""
        import time

        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                run = instance.get_run_by_id(run_id)
                if run is None or run.is_finished:
                    return
                if self.gateway.read_k8s_job(namespace=namespace, name=name) is None:
                    run = instance.get_run_by_id(run_id)
                    if run is not None and run.status == DagsterRunStatus.CANCELING:
                        instance.report_run_canceled(run, "The run's K8s Job and pods were deleted.")
                    return
                time.sleep(1.0)
        except Exception:  # a background courtesy: run monitoring's cancel timeout is the backstop
            log.warning("could not confirm the cancellation of run %s", run_id, exc_info=True)

    # -- monitoring ---------------------------------------------------------------------------
    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    @property
    def supports_run_worker_crash_recovery(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        namespace, name = self._current_k8s_job(run)
        try:
            seen = health.observe(
                self.gateway,
                namespace=namespace,
                k8s_job_name=name,
                settings=self.diagnosis_settings,
                log_tail_lines=self.log_tail_lines,
            )
        except Exception as err:
            return CheckRunHealthResult(
                WorkerStatus.UNKNOWN, f"could not read K8s Job {namespace}/{name}: {err}"
            )
        found = seen.diagnosis
        if health.is_alive(found.state):
            self._report_wait(run, namespace=namespace, name=name, found=found)
            return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=found.pod_name)
        if found.state is K8sJobState.SUCCEEDED:
            if run.status in (DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING):
                return CheckRunHealthResult(
                    WorkerStatus.FAILED, f"K8s Job {name} completed but the run never finished"
                )
            return CheckRunHealthResult(WorkerStatus.SUCCESS)
        self._report_failure(run, namespace=namespace, name=name, found=found)
        return CheckRunHealthResult(WorkerStatus.FAILED, found.failure_text("Run worker"))

    def _report_wait(self, run: DagsterRun, *, namespace: str, name: str, found: Diagnosis) -> None:
        """Why the run worker waits (unschedulable, image pull within its grace, suspended), once
        per reason, so a run that looks stuck says why before anything fails."""
        if found.reason is None or (run.run_id, f"{name}:{found.reason.value}") in self._reported:
            return
        self._reported.add((run.run_id, f"{name}:{found.reason.value}"))
        self._instance.report_engine_event(
            f"Run worker waiting: {found.headline()}",
            run,
            EngineEventData(failure_metadata(found, k8s_job=name, namespace=namespace)),
            cls=self.__class__,
        )

    def _report_failure(self, run: DagsterRun, *, namespace: str, name: str, found: Diagnosis) -> None:
        """The diagnosis as event metadata (run monitoring's own failure event carries only text),
        once per K8s Job: monitoring asks again until it acts."""
        if (run.run_id, name) in self._reported:
            return
        self._reported.add((run.run_id, name))
        self._instance.report_engine_event(
            f"Run worker {found.verb}: {found.headline()}",
            run,
            EngineEventData(failure_metadata(found, k8s_job=name, namespace=namespace)),
            cls=self.__class__,
        )

    def get_run_worker_debug_info(
        self, run: DagsterRun, include_container_logs: bool | None = True
    ) -> str | None:
        namespace, name = self._current_k8s_job(run)
        seen = health.observe(
            self.gateway,
            namespace=namespace,
            k8s_job_name=name,
            settings=self.diagnosis_settings,
            log_tail_lines=self.log_tail_lines,
            with_events=True,
        )
        return health.debug_text(
            self.gateway,
            namespace=namespace,
            k8s_job_name=name,
            observation=seen,
            log_tail_lines=self.log_tail_lines if include_container_logs else 0,
        )

    def dispose(self) -> None:
        if self._gateway is not None:
            self._gateway.close()
