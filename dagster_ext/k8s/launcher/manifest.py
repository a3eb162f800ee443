"""The run worker's K8s Job: launcher config + code location + run tags, through the pod-spec model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dagster_ext.dagster_compat.runs import DagsterRun
from dagster_ext.errors import ConfigError
from dagster_ext.k8s.run_context import apply_launcher_allowlists, code_location_context, code_location_name
from dagster_ext.k8s.spec import (
    DEFAULT_TTL_SECONDS,
    MergedConfig,
    build_run_layers,
    merge_layers,
    render_run_k8s_job,
)


@dataclass(frozen=True)
class RenderedRun:
    k8s_job_name: str
    namespace: str
    image: str
    manifest: dict[str, Any]
    provenance: Mapping[str, str]


@dataclass(frozen=True)
class RunRenderInputs:
    """Everything a run worker's K8s Job is a function of, as plain data: the launcher reads it
    from a `DagsterRun` (`run_render_inputs`), `dagster-ext render` from a definitions file."""

    launcher_config: Mapping[str, Any]
    run_id: str
    dagster_job: str
    args: Sequence[str]
    container_context: Mapping[str, Any] | str | None = None
    code_location_image: str | None = None
    code_location: str | None = None
    run_tags: Mapping[str, Any] = field(default_factory=dict)
    resume_attempt: int = 0
    environ: Mapping[str, str] | None = None


def run_render_inputs(
    config: Mapping[str, Any],
    run: DagsterRun,
    *,
    args: Sequence[str] = (),
    resume_attempt: int = 0,
    environ: Mapping[str, str] | None,
) -> RunRenderInputs:
    container_context, image = code_location_context(run)
    return RunRenderInputs(
        launcher_config=config,
        run_id=run.run_id,
        dagster_job=run.job_name,
        args=args,
        container_context=container_context,
        code_location_image=image,
        code_location=code_location_name(run),
        run_tags=dict(run.tags),
        resume_attempt=resume_attempt,
        environ=environ,
    )


def merged_run_config(inputs: RunRenderInputs) -> MergedConfig:
    layers = build_run_layers(
        launcher_config=inputs.launcher_config,
        container_context=inputs.container_context,
        code_location_image=inputs.code_location_image,
        run_tags=inputs.run_tags,
        environ=inputs.environ,
    )
    return merge_layers(apply_launcher_allowlists(layers, inputs.launcher_config))


def render_run_from(inputs: RunRenderInputs) -> RenderedRun:
    """Validate every layer and render the run worker's K8s Job; ConfigError names the bad key.

    Used by the launcher and by `dagster-ext render`: allowlists, `k8s_job_ttl_seconds` and the
    image rules are applied here, once.
    """
    config = inputs.launcher_config
    ttl = config.get("k8s_job_ttl_seconds")
    rendered = render_run_k8s_job(
        merged_run_config(inputs),
        run_id=inputs.run_id,
        dagster_job=inputs.dagster_job,
        args=inputs.args,
        code_location=inputs.code_location,
        resume_attempt=inputs.resume_attempt,
        ttl_seconds_after_finished=DEFAULT_TTL_SECONDS if ttl is None else int(ttl),
    )
    containers = rendered.manifest["spec"]["template"]["spec"]["containers"]
    image = containers[0].get("image")
    if not image:
        raise ConfigError(
            "no image for the run worker: set `job_image` in the run launcher config, run the code"
            " location with DAGSTER_CURRENT_IMAGE, or set container_config.image in a dagster-k8s/config tag",
            path="run_launcher.config.job_image",
        )
    return RenderedRun(
        k8s_job_name=rendered.name,
        namespace=rendered.namespace or str(config.get("job_namespace") or "default"),
        image=str(image),
        manifest=rendered.manifest,
        provenance=rendered.provenance,
    )


def render_run(
    config: Mapping[str, Any],
    run: DagsterRun,
    *,
    args: Sequence[str],
    resume_attempt: int,
    environ: Mapping[str, str],
) -> RenderedRun:
    """`render_run_from` of a Dagster run."""
    inputs = run_render_inputs(config, run, args=args, resume_attempt=resume_attempt, environ=environ)
    return render_run_from(inputs)


def run_namespace(config: Mapping[str, Any], run: DagsterRun) -> str:
    """The namespace of an already launched run, without failing on config that changed since."""
    try:
        merged = merged_run_config(run_render_inputs(config, run, environ={}))
    except ConfigError:
        merged = None
    if merged is not None and merged.namespace:
        return merged.namespace
    return str(config.get("job_namespace") or "default")
