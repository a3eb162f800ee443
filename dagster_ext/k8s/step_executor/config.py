"""The step executor's run config: every dagster_k8s.k8s_job_executor key, plus ours."""

from __future__ import annotations

from dagster import Bool, Enum, EnumValue, Field, IntSource, Map, Noneable, StringSource
from dagster._core.definitions.executor_definition import (
    get_step_dependency_config_field,
    get_tag_concurrency_limits_config,
)
from dagster._core.execution.retries import get_retries_config

from dagster_ext.k8s.config_schema import container_fields, dagster_ext_fields, k8s_config_shape

CLEANUP_POLICIES = ("none", "on_success", "always")


def executor_config_schema() -> dict[str, Field]:
    return {
        **container_fields(),
        "load_incluster_config": Field(bool, is_required=False),
        "kubeconfig_file": Field(Noneable(str), is_required=False),
        "job_namespace": Field(StringSource, is_required=False),
        "retries": get_retries_config(),
        "max_concurrent": Field(IntSource, is_required=False),
        "tag_concurrency_limits": get_tag_concurrency_limits_config(),
        "step_k8s_config": Field(k8s_config_shape(), is_required=False),
        "per_step_k8s_config": Field(
            Map(str, k8s_config_shape(), key_label_name="step_name"), is_required=False, default_value={}
        ),
        "enable_owner_references": Field(
            bool,
            is_required=False,
            default_value=True,
            description="Owner-reference step K8s Jobs to the run pod, so deleting the run pod deletes them.",
        ),
        "step_dependency_config": get_step_dependency_config_field(),
        # --- dagster-ext additions ---
        "inherit_run_tags": Field(
            Bool,
            is_required=False,
            default_value=True,
            description="Step pods include the job-level dagster-k8s/config tag (seed 001 §1.2).",
        ),
        "cleanup": Field(
            Enum("StepJobCleanup", [EnumValue(p) for p in CLEANUP_POLICIES]),
            is_required=False,
            default_value="none",
            description="Delete finished step K8s Jobs: never (TTL only), after success, or always.",
        ),
        "max_concurrent_creates": Field(
            IntSource, is_required=False, default_value=8, description="K8s Job creates in flight at once."
        ),
        "health_check_interval_seconds": Field(
            IntSource,
            is_required=False,
            default_value=1,
            description="How often step health is read from the watch cache (no API request).",
        ),
        "event_poll_seconds": Field(
            float,
            is_required=False,
            default_value=0.25,
            description="How often the run worker reads new step events from event storage.",
        ),
        **dagster_ext_fields(),
    }
