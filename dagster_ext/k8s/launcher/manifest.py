"""The run worker's K8s Job: launcher config + code location + run tags, through the pod-spec model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagster_ext.dagster_compat.runs import DagsterRun
from dagster_ext.errors import ConfigError
from dagster_ext.k8s.run_context import apply_launcher_allowlists, code_location_context, code_location_name
from dagster_ext.k8s.spec import (
    DEFAULT_TTL_SECONDS,
    Layer,
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


def run_layers(config: Mapping[str, Any], run: DagsterRun, *, environ: Mapping[str, str]) -> list[Layer]:
    container_context, image = code_location_context(run)
    layers = build_run_layers(
        launcher_config=config,
        container_context=container_context,
        code_location_image=image,
        run_tags=run.tags,
        environ=environ,
    )
    return apply_launcher_allowlists(layers, config)


def merged_run_config(
    config: Mapping[str, Any], run: DagsterRun, *, environ: Mapping[str, str]
) -> MergedConfig:
    return merge_layers(run_layers(config, run, environ=environ))


def render_run(
    config: Mapping[str, Any],
    run: DagsterRun,
    *,
    args: Sequence[str],
    resume_attempt: int,
    environ: Mapping[str, str],
) -> RenderedRun:
    """Validate every layer and render the run worker's K8s Job; ConfigError names the bad key."""
    merged = merged_run_config(config, run, environ=environ)
    ttl = config.get("k8s_job_ttl_seconds")
    rendered = render_run_k8s_job(
        merged,
        run_id=run.run_id,
        dagster_job=run.job_name,
        args=args,
        code_location=code_location_name(run),
        resume_attempt=resume_attempt,
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


def run_namespace(config: Mapping[str, Any], run: DagsterRun) -> str:
    """The namespace of an already launched run, without failing on config that changed since."""
    try:
        merged = merged_run_config(config, run, environ={})
    except ConfigError:
        merged = None
    if merged is not None and merged.namespace:
        return merged.namespace
    return str(config.get("job_namespace") or "default")
