"""The three kinds of Job dagster-ext creates: run worker, step worker, external `k8s_job`.

Each function only decides the name, identity labels, command line and Dagster env vars; the
pod spec comes from the merged layers (see `layers`) and the shared core in `rendering`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from dagster_ext.errors import ConfigError
from dagster_ext.k8s.spec.labels import Component
from dagster_ext.k8s.spec.layers import MergedConfig
from dagster_ext.k8s.spec.names import (
    external_k8s_job_name,
    is_dns1123_label,
    run_k8s_job_name,
    step_k8s_job_name,
)
from dagster_ext.k8s.spec.owners import pod_identity_env
from dagster_ext.k8s.spec.rendering import (
    DEFAULT_TTL_SECONDS,
    ContainerRun,
    JobIdentity,
    RenderedK8sJob,
    render_k8s_job,
)

RUN_JOB_NAME_ENV: Final = "DAGSTER_RUN_JOB_NAME"
RUN_STEP_KEY_ENV: Final = "DAGSTER_RUN_STEP_KEY"
COMPRESSED_STEP_ARGS_ENV: Final = "DAGSTER_COMPRESSED_EXECUTE_STEP_ARGS"  # read by `dagster api execute_step`
# Linux rejects any single argv string over MAX_ARG_STRLEN (128 KiB); stay well below it.
MAX_ARG_BYTES: Final = 96 * 1024


def render_run_k8s_job(
    merged: MergedConfig,
    *,
    run_id: str,
    dagster_job: str,
    args: Sequence[str],
    image: str | None = None,
    code_location: str | None = None,
    resume_attempt: int = 0,
    ttl_seconds_after_finished: int = DEFAULT_TTL_SECONDS,
) -> RenderedK8sJob:
    """The run worker Job: `args` is `dagster api execute_run ...` (or `resume_run`)."""
    return render_k8s_job(
        merged,
        name=run_k8s_job_name(run_id, resume_attempt=resume_attempt),
        identity=JobIdentity(Component.RUN_WORKER, run_id, dagster_job, code_location=code_location),
        run=ContainerRun(
            args=args, env=[{"name": RUN_JOB_NAME_ENV, "value": dagster_job}, *pod_identity_env()]
        ),
        image=image,
        ttl_seconds_after_finished=ttl_seconds_after_finished,
    )


def step_container_run(
    *,
    dagster_job: str,
    step_key: str,
    compressed_step_args: str,
    entry_point: Sequence[str] = ("dagster",),
    args_in_env: bool = True,
) -> ContainerRun:
    """`dagster api execute_step` with its serialized arguments in an env var (as dagster-k8s
    does) or on the command line; a payload too large for one argv string always goes to the env.
    """
    env = [
        {"name": RUN_JOB_NAME_ENV, "value": dagster_job},
        {"name": RUN_STEP_KEY_ENV, "value": step_key},
        *pod_identity_env(),
    ]
    args = [*entry_point, "api", "execute_step"]
    if args_in_env or len(compressed_step_args.encode("utf-8")) > MAX_ARG_BYTES:
        env.insert(0, {"name": COMPRESSED_STEP_ARGS_ENV, "value": compressed_step_args})
    else:
        args.extend(["--compressed-input-json", compressed_step_args])
    return ContainerRun(args=args, env=env)


def render_step_k8s_job(
    merged: MergedConfig,
    *,
    run_id: str,
    dagster_job: str,
    step_key: str,
    compressed_step_args: str,
    image: str | None = None,
    code_location: str | None = None,
    attempt: int = 0,
    entry_point: Sequence[str] = ("dagster",),
    args_in_env: bool = True,
    ttl_seconds_after_finished: int = DEFAULT_TTL_SECONDS,
) -> RenderedK8sJob:
    """A step worker Job (K8s step executor and Celery K8s mode).

    `compressed_step_args` is `ExecuteStepArgs`'s compressed serialization, i.e. the value of
    `get_command_env()`'s `DAGSTER_COMPRESSED_EXECUTE_STEP_ARGS`; `attempt` the retry attempt.
    """
    run = step_container_run(
        dagster_job=dagster_job,
        step_key=step_key,
        compressed_step_args=compressed_step_args,
        entry_point=entry_point,
        args_in_env=args_in_env,
    )
    return render_k8s_job(
        merged,
        name=step_k8s_job_name(run_id, step_key, attempt=attempt),
        identity=JobIdentity(
            Component.STEP_WORKER, run_id, dagster_job, op=step_key, code_location=code_location
        ),
        run=run,
        image=image,
        ttl_seconds_after_finished=ttl_seconds_after_finished,
    )


def render_external_k8s_job(
    merged: MergedConfig,
    *,
    run_id: str,
    dagster_job: str,
    step_key: str,
    image: str | None = None,
    command: Sequence[str] | None = None,
    args: Sequence[str] | None = None,
    code_location: str | None = None,
    attempt: int = 0,
    sequence: int = 0,
    name: str | None = None,
    ttl_seconds_after_finished: int = DEFAULT_TTL_SECONDS,
) -> RenderedK8sJob:
    """A Job started by `execute_k8s_job` / `k8s_job_op`; `name` overrides the generated name
    (dagster-k8s's `k8s_job_name`), `sequence` numbers several Jobs of one step.
    """
    if name is not None and not is_dns1123_label(name):
        raise ConfigError("not a valid Job name (DNS-1123 label, at most 63 characters)", path="k8s_job_name")
    return render_k8s_job(
        merged,
        name=name or external_k8s_job_name(run_id, step_key, attempt=attempt, sequence=sequence),
        identity=JobIdentity(
            Component.K8S_JOB, run_id, dagster_job, op=step_key, code_location=code_location
        ),
        run=ContainerRun(args=args, command=command),
        image=image,
        ttl_seconds_after_finished=ttl_seconds_after_finished,
    )
