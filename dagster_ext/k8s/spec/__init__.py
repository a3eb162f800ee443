"""The pure pod-spec model: `dagster-k8s/config` parsing, layer merging with provenance, and
Job manifest rendering. No I/O and no `kubernetes` import (enforced by import-linter), so the
launcher, the step executor, Celery K8s mode, `execute_k8s_job` and `dagster-ext render` all
share one definition of what a pod looks like.

Typical use (a step executor)::

    layers = build_step_layers(launcher_config=..., container_context=..., run_tags=run.tags,
                               executor_config=..., step_tags=step.tags, op_name=step.op_name,
                               environ=os.environ)
    merged = merge_layers(layers)
    rendered = render_step_k8s_job(merged, run_id=..., dagster_job=..., step_key=...,
                                   compressed_step_args=..., image=...)
    rendered.manifest          # dict for BatchV1Api.create_namespaced_job(body=...)
    rendered.layer_of("spec.template.spec.containers[dagster].resources.limits.cpu")
"""

from __future__ import annotations

from dagster_ext.k8s.quantities import is_quantity, parse_quantity
from dagster_ext.k8s.spec.allowlist import enforce_allowlist
from dagster_ext.k8s.spec.annotate import annotated_yaml
from dagster_ext.k8s.spec.config import (
    JOB_SECTIONS,
    RESOURCE_REQUIREMENTS_TAG,
    USER_CONFIG_TAG,
    K8sConfig,
    MergeBehavior,
    k8s_config_from_tags,
    parse_k8s_config,
)
from dagster_ext.k8s.spec.context import (
    SourceConfig,
    parse_container_context,
    parse_executor_config,
    parse_k8s_container_context,
    parse_launcher_config,
)
from dagster_ext.k8s.spec.labels import (
    Component,
    common_labels,
    identity_labels,
    is_label_value,
    k8s_job_labels,
    sanitize_label_value,
)
from dagster_ext.k8s.spec.layers import (
    CODE_LOCATION,
    EXECUTOR,
    K8S_JOB_CALL,
    OP_TAGS,
    PER_STEP,
    PRECEDENCE,
    RUN_LAUNCHER,
    RUN_TAGS,
    Layer,
    MergedConfig,
    build_external_layers,
    build_run_layers,
    build_step_layers,
    merge_layers,
)
from dagster_ext.k8s.spec.manifests import (
    COMPRESSED_STEP_ARGS_ENV,
    render_external_k8s_job,
    render_run_k8s_job,
    render_step_k8s_job,
    step_container_run,
)
from dagster_ext.k8s.spec.merging import merge_configs
from dagster_ext.k8s.spec.names import (
    external_k8s_job_name,
    is_dns1123_label,
    run_k8s_job_name,
    step_k8s_job_name,
)
from dagster_ext.k8s.spec.rendering import (
    DEFAULT_TTL_SECONDS,
    DEFAULTS,
    SYSTEM,
    ContainerRun,
    JobIdentity,
    RenderedK8sJob,
    render_k8s_job,
)

__all__ = [
    "CODE_LOCATION",
    "COMPRESSED_STEP_ARGS_ENV",
    "DEFAULTS",
    "DEFAULT_TTL_SECONDS",
    "EXECUTOR",
    "JOB_SECTIONS",
    "K8S_JOB_CALL",
    "OP_TAGS",
    "PER_STEP",
    "PRECEDENCE",
    "RESOURCE_REQUIREMENTS_TAG",
    "RUN_LAUNCHER",
    "RUN_TAGS",
    "SYSTEM",
    "USER_CONFIG_TAG",
    "Component",
    "ContainerRun",
    "JobIdentity",
    "K8sConfig",
    "Layer",
    "MergeBehavior",
    "MergedConfig",
    "RenderedK8sJob",
    "SourceConfig",
    "annotated_yaml",
    "build_external_layers",
    "build_run_layers",
    "build_step_layers",
    "common_labels",
    "enforce_allowlist",
    "external_k8s_job_name",
    "identity_labels",
    "is_dns1123_label",
    "is_label_value",
    "is_quantity",
    "k8s_config_from_tags",
    "k8s_job_labels",
    "merge_configs",
    "merge_layers",
    "parse_container_context",
    "parse_executor_config",
    "parse_k8s_config",
    "parse_k8s_container_context",
    "parse_launcher_config",
    "parse_quantity",
    "render_external_k8s_job",
    "render_k8s_job",
    "render_run_k8s_job",
    "render_step_k8s_job",
    "run_k8s_job_name",
    "sanitize_label_value",
    "step_container_run",
    "step_k8s_job_name",
]
