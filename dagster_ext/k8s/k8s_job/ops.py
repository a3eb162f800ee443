"""`execute_k8s_job` and `k8s_job_op`: run a container as a K8s Job from inside an op.

Same parameters and config keys as dagster-k8s's helpers, so switching is an import change.
What differs (docs/k8s-job.md, docs/compat.md): the K8s Job inherits the calling step's pod
configuration, its log reaches Dagster while it runs, it is watched rather than polled, failures
are named (OOMKilled, exit code with the last log lines, image pull, FailedCreate, deadline), and
it is owned by the run or step pod it was started from.
"""

# No `from __future__ import annotations`: Dagster checks the op's context annotation at runtime.
import os
from collections.abc import Mapping
from typing import Any

from dagster import In, Nothing, OpExecutionContext, op

from dagster_ext.k8s.client import K8sGateway
from dagster_ext.k8s.k8s_job.config import K8sJobCall, k8s_job_op_config_schema, parse_k8s_job_call
from dagster_ext.k8s.k8s_job.rendering import CALL_SEQUENCE, render_k8s_job_call, step_origin
from dagster_ext.k8s.k8s_job.running import RunSettings, run_k8s_job
from dagster_ext.k8s.status import Diagnosis
from dagster_ext.k8s.step_pods import step_connection


class _ContextReporter:
    """Progress to `context.log`; pod log lines to `context.log`, stdout, or nowhere."""

    def __init__(self, context: Any, destination: str) -> None:
        self._log = context.log
        self._destination = destination

    def info(self, message: str) -> None:
        self._log.info(message)

    def line(self, text: str) -> None:
        if self._destination == "context_log":
            self._log.info(text)
        elif self._destination == "stdout":
            print(text, flush=True)  # the step's stdout is its compute log


def execute_k8s_job(  # noqa: PLR0917 - dagster-k8s's positional signature
    context: OpExecutionContext,
    image: str,
    command: list[str] | None = None,
    args: list[str] | None = None,
    namespace: str | None = None,
    image_pull_policy: str | None = None,
    image_pull_secrets: list[dict[str, str]] | None = None,
    service_account_name: str | None = None,
    env_config_maps: list[str] | None = None,
    env_secrets: list[str] | None = None,
    env_vars: list[str] | None = None,
    volume_mounts: list[dict[str, Any]] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    resources: dict[str, Any] | None = None,
    scheduler_name: str | None = None,
    load_incluster_config: bool | None = None,
    kubeconfig_file: str | None = None,
    timeout: int | None = None,
    container_config: dict[str, Any] | None = None,
    pod_template_spec_metadata: dict[str, Any] | None = None,
    pod_spec_config: dict[str, Any] | None = None,
    job_metadata: dict[str, Any] | None = None,
    job_spec_config: dict[str, Any] | None = None,
    k8s_job_name: str | None = None,
    merge_behavior: Any = "DEEP",
    delete_failed_k8s_jobs: bool | None = True,
    _kubeconfig_file_context: str | None = None,
    **extra: Any,
) -> Diagnosis:
    """Run `image` as a K8s Job from inside an op and return when it succeeded.

    The parameters are dagster-k8s's `execute_k8s_job`'s. `extra` takes the keys only we have:
    `security_context`, `inherit_run_tags`/`inherit_op_tags` (default true: the K8s Job's pod
    starts from the calling step's pod configuration), `enable_owner_references`,
    `log_destination` (`context_log`, `stdout`, `none`), `log_tail_lines`,
    `failure_grace_seconds`, `k8s_job_ttl_seconds`. Raises `ConfigError` (naming the key) before
    anything is created, `K8sJobError` when the K8s Job fails or times out.
    """
    config = {key: value for key, value in locals().items() if key not in ("context", "extra")}
    return _execute(context, {**config, **extra}, path="execute_k8s_job")


def _with_launcher_connection(context: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    """No connection given: reach the API the way the run's K8s run launcher does (as the step
    executor does), else in-cluster like dagster-k8s. The run pod's ServiceAccount may lack the
    rights a kubeconfig-configured launcher has."""
    if config.get("load_incluster_config") is not None or config.get("kubeconfig_file"):
        return dict(config)
    connection = step_connection({}, context.instance.run_launcher)
    return {
        **config,
        "load_incluster_config": connection.load_incluster_config,
        "kubeconfig_file": connection.kubeconfig_file,
    }


def _execute(context: Any, config: Mapping[str, Any], *, path: str) -> Diagnosis:
    _reject_unknown(config, path=path)
    config = _with_launcher_connection(context, config)
    environ = dict(os.environ)
    call = parse_k8s_job_call(config, path=path, environ=environ)
    origin = step_origin(context)
    rendered = render_k8s_job_call(call, origin, sequence=CALL_SEQUENCE.next(origin), environ=environ)
    gateway = K8sGateway(call.connection)
    try:
        return run_k8s_job(
            gateway,
            rendered,
            settings=_run_settings(call),
            reporter=_ContextReporter(context, call.log_destination),
        )
    finally:
        gateway.close()


def _run_settings(call: K8sJobCall) -> RunSettings:
    return RunSettings(
        timeout_s=call.timeout_s,
        delete_failed_k8s_jobs=call.delete_failed_k8s_jobs,
        diagnosis=call.diagnosis,
        log_tail_lines=call.log_tail_lines,
        follow_logs=call.log_destination != "none",
    )


def _reject_unknown(config: Mapping[str, Any], *, path: str) -> None:
    from dagster_ext.errors import ConfigError
    from dagster_ext.k8s.spec.schema import suggest

    known = [*k8s_job_op_config_schema(), "_kubeconfig_file_context"]
    for key in config:
        if key not in known:
            match = suggest(key, known)
            hint = f"; did you mean {match!r}?" if match else ""
            raise ConfigError(f"unknown argument{hint}", path=f"{path}.{key}")


@op(ins={"start_after": In(Nothing)}, config_schema=k8s_job_op_config_schema())
def k8s_job_op(context: OpExecutionContext) -> None:
    """Run the configured image as a K8s Job (dagster-k8s's `k8s_job_op` config keys, plus ours).

    Its pod inherits the run/step pod's configuration; its log streams into the op's log.
    """
    _execute(context, dict(context.op_config), path=f"ops.{context.op.name}.config")
