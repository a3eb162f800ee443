"""`PipesK8sClient`: run external code in a K8s Job and get its logs, materializations and asset
checks back through Dagster Pipes (docs/pipes.md).

The constructor and `run()` take dagster-k8s's `PipesK8sClient` keys, so switching is an import
change. The external pod is run the way `execute_k8s_job` runs one (`running.run_k8s_job`): a K8s
Job rendered from the calling step's pod configuration with the call's keys on top (`pipes_pod`),
watched rather than polled, its log streamed while it runs (Pipes messages are read from that same
stream, `pipes_messages`), every failure named with its reason, and the K8s Job deleted when the
step stops waiting for it. dagster-k8s creates a bare pod instead, polls it, and can wait forever
for a pod whose init container failed or that was deleted.
"""

# No `from __future__ import annotations`: Dagster reads the context annotation at runtime.
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any, Final

from dagster import (
    AssetExecutionContext,
    OpExecutionContext,
    PipesClient,
    PipesClientCompletedInvocation,
    PipesContextInjector,
    PipesEnvContextInjector,
    PipesMessageReader,
    open_pipes_session,
)

from dagster_ext.dagster_compat.pipes import TreatAsResourceParam
from dagster_ext.errors import ConfigError, DagsterExtError
from dagster_ext.k8s.client import ConnectionSettings, K8sGateway
from dagster_ext.k8s.client.connecting import running_in_pod
from dagster_ext.k8s.k8s_job.config import LOG_DESTINATIONS, K8sJobCall
from dagster_ext.k8s.k8s_job.pipes_messages import PipesK8sPodLogsMessageReader, PipesLineRouter
from dagster_ext.k8s.k8s_job.pipes_pod import parse_pipes_call
from dagster_ext.k8s.k8s_job.rendering import CALL_SEQUENCE, render_k8s_job_call, step_origin
from dagster_ext.k8s.k8s_job.running import RunSettings, run_k8s_job
from dagster_ext.k8s.run_context import launcher_config_of
from dagster_ext.k8s.spec.schema import suggest
from dagster_ext.k8s.step_pods import step_connection

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL_S: Final = 10.0  # dagster-k8s's; accepted, unused: the K8s Job is watched
DEFAULT_POD_WAIT_TIMEOUT_S: Final = 86400.0  # dagster-k8s's 24 h; 0 waits without a limit
RUN_PATH: Final = "PipesK8sClient.run"
# `run()` keys only we have, with `execute_k8s_job`'s meaning (docs/pipes.md).
EXTRA_KEYS: Final = (
    "failure_grace_seconds",
    "log_tail_lines",
    "log_destination",
    "k8s_job_ttl_seconds",
    "k8s_job_name",
    "inherit_run_tags",
    "inherit_op_tags",
    "enable_owner_references",
    "merge_behavior",
)


class _PipesReporter:
    """Progress to `context.log`; each streamed line to the Pipes reader or, plain, to `destination`."""

    def __init__(self, context: Any, reader: PipesMessageReader, destination: str) -> None:
        self._log = context.log
        self._destination = destination
        self._route = PipesLineRouter(reader, self._plain)

    def info(self, message: str) -> None:
        self._log.info(message)

    def line(self, text: str) -> None:
        self._route(text)

    def _plain(self, text: str) -> None:
        if self._destination == "context_log":
            self._log.info(text)
        elif self._destination == "stdout":
            print(text, flush=True)  # the step's stdout is its compute log


class PipesK8sClient(PipesClient, TreatAsResourceParam):
    """A Pipes client that runs the external process as a K8s Job (dagster-k8s's keys).

    `env` is added to the Pipes container of every call; `context_injector` defaults to env vars,
    `message_reader` to reading the Pipes container's streamed log. With no connection argument
    the API is reached the way the instance's K8s run launcher reaches it (in-cluster inside a
    pod), else from the default kubeconfig. `poll_interval` is accepted for compatibility and
    unused. `log_destination` (ours) is where plain log lines go: `context_log` (the step's event
    log, the default), `stdout` (its compute log, dagster-k8s's choice) or `none`.
    """

    def __init__(  # noqa: PLR0917 - dagster-k8s's positional signature
        self,
        env: Mapping[str, str] | None = None,
        context_injector: PipesContextInjector | None = None,
        message_reader: PipesMessageReader | None = None,
        load_incluster_config: bool | None = None,
        kubeconfig_file: str | None = None,
        kube_context: str | None = None,
        poll_interval: float | None = DEFAULT_POLL_INTERVAL_S,
        *,
        log_destination: str = "context_log",
    ) -> None:
        if load_incluster_config and (kubeconfig_file or kube_context):
            raise ConfigError(
                "kubeconfig_file and kube_context cannot be combined with load_incluster_config=True",
                path="PipesK8sClient.load_incluster_config",
            )
        if log_destination not in LOG_DESTINATIONS:
            raise ConfigError(
                f"expected one of {', '.join(LOG_DESTINATIONS)}", path="PipesK8sClient.log_destination"
            )
        self.env = dict(env or {})
        self.context_injector = context_injector or PipesEnvContextInjector()
        self.message_reader = message_reader or PipesK8sPodLogsMessageReader()
        self.load_incluster_config = load_incluster_config
        self.kubeconfig_file = kubeconfig_file
        self.kube_context = kube_context
        self.poll_interval = poll_interval
        self.log_destination = log_destination

    @classmethod
    def _is_dagster_maintained(cls) -> bool:
        return False

    def run(  # type: ignore[override]
        self,
        *,
        context: OpExecutionContext | AssetExecutionContext,
        extras: Mapping[str, Any] | None = None,
        image: str | None = None,
        command: str | Sequence[str] | None = None,
        namespace: str | None = None,
        env: Mapping[str, str] | None = None,
        base_pod_meta: Mapping[str, Any] | None = None,
        base_pod_spec: Mapping[str, Any] | None = None,
        ignore_containers: set[str] | None = None,
        enable_multi_container_logs: bool = False,
        pod_wait_timeout: float = DEFAULT_POD_WAIT_TIMEOUT_S,
        delete_pod_on_completion: bool = True,
        **extra: Any,
    ) -> PipesClientCompletedInvocation:
        """Run the external process as a K8s Job and return when it succeeded.

        Raises `ConfigError` (naming the key) before anything is created, and `K8sJobError` with
        the reason (OOMKilled, exit code with the last log lines, image pull, init container,
        unschedulable, deleted pod, timeout, ...) when the K8s Job does not succeed.
        `ignore_containers` and `enable_multi_container_logs` are accepted; the K8s Job ends when
        its pod ends and the Pipes container's log is the one streamed (docs/pipes.md).
        `extra` takes the keys only we have (`EXTRA_KEYS`).
        """
        del ignore_containers, enable_multi_container_logs  # see the docstring
        _reject_unknown(extra)
        environ = dict(os.environ)
        origin = step_origin(context)
        with open_pipes_session(
            context=context,
            extras=dict(extras) if extras else None,
            context_injector=self.context_injector,
            message_reader=self.message_reader,
        ) as session:
            call = parse_pipes_call(
                image=image,
                command=command,
                namespace=namespace,
                env=(self.env, env),
                base_pod_meta=base_pod_meta,
                base_pod_spec=base_pod_spec,
                bootstrap_env=session.get_bootstrap_env_vars(),
                keys={
                    **extra,
                    "timeout": pod_wait_timeout or None,
                    "delete_failed_k8s_jobs": delete_pod_on_completion,
                },
                connection=self._connection(context),
                environ=environ,
                path=RUN_PATH,
            )
            rendered = render_k8s_job_call(call, origin, sequence=CALL_SEQUENCE.next(origin), environ=environ)
            destination = str(extra.get("log_destination") or self.log_destination)
            gateway = K8sGateway(call.connection)
            try:
                run_k8s_job(
                    gateway,
                    rendered,
                    settings=_run_settings(call),
                    reporter=_PipesReporter(context, self.message_reader, destination),
                )
                if delete_pod_on_completion:
                    _delete_succeeded(gateway, rendered.namespace or "default", rendered.name)
            finally:
                gateway.close()
        return PipesClientCompletedInvocation(session)

    def _connection(self, context: Any) -> ConnectionSettings:
        """dagster-k8s's arguments when given; else the K8s run launcher's way (as the step
        executor and `execute_k8s_job` do); else in-cluster inside a pod, the default kubeconfig
        outside one (dagster-k8s's default)."""
        if self.load_incluster_config is not None or self.kubeconfig_file or self.kube_context:
            return ConnectionSettings(
                load_incluster_config=bool(self.load_incluster_config),
                kubeconfig_file=self.kubeconfig_file,
                context=self.kube_context,
            )
        run_launcher = context.instance.run_launcher
        if launcher_config_of(run_launcher) is not None:
            return step_connection({}, run_launcher)
        return ConnectionSettings(load_incluster_config=running_in_pod())


def _run_settings(call: K8sJobCall) -> RunSettings:
    """The log is always followed: the Pipes messages are in it."""
    return RunSettings(
        timeout_s=call.timeout_s,
        delete_failed_k8s_jobs=call.delete_failed_k8s_jobs,
        diagnosis=call.diagnosis,
        log_tail_lines=call.log_tail_lines,
        follow_logs=True,
    )


def _delete_succeeded(gateway: K8sGateway, namespace: str, name: str) -> None:
    """dagster-k8s deletes the pod once it is done; a failed delete leaves the K8s Job to its TTL."""
    try:
        gateway.delete_k8s_job(namespace=namespace, name=name, propagation="Background")
    except DagsterExtError:
        log.warning("could not delete K8s Job %s/%s; its TTL removes it", namespace, name, exc_info=True)


def _reject_unknown(extra: Mapping[str, Any]) -> None:
    for key in extra:
        if key not in EXTRA_KEYS:
            match = suggest(key, list(EXTRA_KEYS))
            hint = f"; did you mean {match!r}?" if match else ""
            raise ConfigError(f"unknown argument{hint}", path=f"{RUN_PATH}.{key}")
