"""A step's K8s Job as the K8s step executor renders it, from a Dagster step handler context.

Shared by the K8s step executor and the Celery-queue executor's `k8s_job` step mode, so a step pod
inherits the run pod's spec the same way whichever executor starts it. Layers (later wins): run
launcher config → code location → job-level tags (switchable) → executor `step_k8s_config` →
op/asset tags → `per_step_k8s_config[op]`. Reads Dagster objects only; no Kubernetes I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dagster_ext.dagster_compat.runs import DOCKER_IMAGE_TAG
from dagster_ext.dagster_compat.step_delegating import StepHandlerContext
from dagster_ext.k8s.client import ConnectionSettings, running_in_pod
from dagster_ext.k8s.run_context import (
    apply_launcher_allowlists,
    code_location_context,
    code_location_name,
    launcher_config_of,
)
from dagster_ext.k8s.spec import (
    COMPRESSED_STEP_ARGS_ENV,
    DEFAULT_TTL_SECONDS,
    RenderedK8sJob,
    build_step_layers,
    merge_layers,
    render_step_k8s_job,
    sanitize_label_value,
)
from dagster_ext.k8s.status import DiagnosisSettings


def run_label_selector(run_id: str) -> str:
    """The run's step K8s Jobs and their pods."""
    return f"dagster/run-id={sanitize_label_value(run_id)},app.kubernetes.io/component=step_worker"


def single_step_key(ctx: StepHandlerContext) -> str:
    keys = ctx.execute_step_args.step_keys_to_execute or []
    assert len(keys) == 1, "a step K8s Job runs exactly one step"
    return str(keys[0])


def step_attempt(ctx: StepHandlerContext, step_key: str) -> int:
    known = ctx.execute_step_args.known_state
    return known.get_retry_state().get_attempt_count(step_key) if known else 0


@dataclass(frozen=True)
class StepRenderInputs:
    """Everything a step's K8s Job is a function of, as plain data.

    The K8s step executor and Celery K8s mode read it from a `StepHandlerContext`
    (`step_render_inputs`); `dagster-ext render` builds it from a definitions file and a
    dagster.yaml. Both then call `render_step`, so the preview is the Job that gets created.
    """

    run_id: str
    dagster_job: str
    step_key: str
    op_name: str
    compressed_step_args: str
    executor_config: Mapping[str, Any] = field(default_factory=dict)
    launcher_config: Mapping[str, Any] | None = None
    container_context: Mapping[str, Any] | str | None = None
    code_location_image: str | None = None
    code_location: str | None = None
    run_tags: Mapping[str, Any] = field(default_factory=dict)
    step_tags: Mapping[str, Any] = field(default_factory=dict)
    attempt: int = 0
    environ: Mapping[str, str] | None = None  # None: `env_vars: [KEY]` shown as placeholders


def step_render_inputs(
    ctx: StepHandlerContext, *, executor_config: Mapping[str, Any], environ: Mapping[str, str]
) -> StepRenderInputs:
    """Read a step handler context once; no Kubernetes I/O."""
    step_key = single_step_key(ctx)
    run = ctx.dagster_run
    container_context, location_image = code_location_context(run)
    env = {e["name"]: e["value"] for e in ctx.execute_step_args.get_command_env()}
    return StepRenderInputs(
        run_id=run.run_id,
        dagster_job=run.job_name,
        step_key=step_key,
        op_name=ctx.get_step_context(step_key).step.op_name,
        compressed_step_args=env[COMPRESSED_STEP_ARGS_ENV],
        executor_config=executor_config,
        launcher_config=launcher_config_of(ctx.instance.run_launcher),
        container_context=container_context,
        code_location_image=location_image,
        code_location=code_location_name(run),
        run_tags=dict(run.tags),
        step_tags=dict(ctx.step_tags[step_key]),
        attempt=step_attempt(ctx, step_key),
        environ=environ,
    )


def render_step(inputs: StepRenderInputs) -> RenderedK8sJob:
    """The step's K8s Job, validated (ConfigError names the offending key); no owner reference.

    Layers as in `build_step_layers`, the launcher's allowlists on the user layers, the
    executor's `k8s_job_ttl_seconds`, and the run's `dagster/image` tag as the image when no
    layer names one.
    """
    config = inputs.executor_config
    layers = build_step_layers(
        launcher_config=inputs.launcher_config,
        container_context=inputs.container_context,
        code_location_image=inputs.code_location_image,
        run_tags=inputs.run_tags,
        executor_config=config,
        step_tags=inputs.step_tags,
        op_name=inputs.op_name,
        inherit_run_tags=bool(config.get("inherit_run_tags", True)),
        environ=inputs.environ,
    )
    merged = merge_layers(apply_launcher_allowlists(layers, inputs.launcher_config))
    ttl = config.get("k8s_job_ttl_seconds")
    return render_step_k8s_job(
        merged,
        run_id=inputs.run_id,
        dagster_job=inputs.dagster_job,
        step_key=inputs.step_key,
        compressed_step_args=inputs.compressed_step_args,
        image=None if merged.image else inputs.run_tags.get(DOCKER_IMAGE_TAG),
        code_location=inputs.code_location,
        attempt=inputs.attempt,
        ttl_seconds_after_finished=DEFAULT_TTL_SECONDS if ttl is None else int(ttl),
    )


def render_step_pod(
    ctx: StepHandlerContext, *, executor_config: Mapping[str, Any], environ: Mapping[str, str]
) -> RenderedK8sJob:
    """`render_step` of a step handler context (K8s step executor, Celery K8s mode)."""
    return render_step(step_render_inputs(ctx, executor_config=executor_config, environ=environ))


STEP_EXECUTOR_MODULE = "dagster_ext.k8s.step_executor.executor"


def k8s_step_executor_config(step_context: Any) -> Mapping[str, Any] | None:
    """The K8s step executor's resolved config when the step's job runs under it, else None.

    Read from the step's own execution context (the job definition and the run config it was
    resolved with), so it holds in the step pod as in the run worker; a `configured` copy of the
    executor keeps its creation function, and dagster-k8s's executor of the same name is not ours.
    """
    executor_def = getattr(step_context.job_def, "executor_def", None)
    creation_fn = getattr(executor_def, "executor_creation_fn", None)
    # by the creation function's module: this layer may not import the step executor itself
    if getattr(creation_fn, "__module__", None) != STEP_EXECUTOR_MODULE:
        return None
    config = step_context.resolved_run_config.execution.execution_engine_config
    return dict(config or {})


def default_step_namespace(run_launcher: Any, executor_config: Mapping[str, Any]) -> str:
    launcher = launcher_config_of(run_launcher) or {}
    return str(executor_config.get("job_namespace") or launcher.get("job_namespace") or "default")


def step_connection(executor_config: Mapping[str, Any], run_launcher: Any) -> ConnectionSettings:
    """How step K8s Jobs reach the API: executor keys win; else in-cluster when running in a pod (the
    run pod: a kubeconfig the K8s run launcher reads in the daemon is not there); else the launcher's."""
    launcher_config = launcher_config_of(run_launcher) or {}
    incluster = executor_config.get("load_incluster_config")
    if incluster is None and executor_config.get("kubeconfig_file") is None and running_in_pod():
        incluster = True
    if incluster is None:
        incluster = launcher_config.get("load_incluster_config", True)
    kubeconfig = executor_config.get("kubeconfig_file") or launcher_config.get("kubeconfig_file")
    return ConnectionSettings(
        load_incluster_config=bool(incluster),
        kubeconfig_file=None if incluster else kubeconfig,
        ssl_ca_cert_file=launcher_config.get("k8s_api_ssl_ca_cert_file"),
    )


def diagnosis_settings(executor_config: Mapping[str, Any]) -> DiagnosisSettings:
    return DiagnosisSettings.from_config(executor_config)


def step_pool(ctx: StepHandlerContext, step_key: str) -> str | None:
    """The pool whose slot the step claimed before launch (`pool=`, or the older
    `dagster/concurrency_key` tag Dagster still honours), None for a step in no pool."""
    step = getattr(ctx.get_step_context(step_key), "step", None)
    if step is None:
        return None
    pool = getattr(step, "pool", None) or step.tags.get("dagster/concurrency_key")
    return str(pool) if pool else None
