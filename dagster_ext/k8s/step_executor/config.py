"""The step executor's run config: every dagster_k8s.k8s_job_executor key, plus ours."""

from __future__ import annotations

from dagster import Enum, EnumValue, Field, IntSource

from dagster_ext.dagster_compat.definitions import (
    get_retries_config,
    get_step_dependency_config_field,
    get_tag_concurrency_limits_config,
)
from dagster_ext.k8s.config_schema import step_pod_fields

CLEANUP_POLICIES = ("none", "on_success", "always")


def executor_config_schema() -> dict[str, Field]:
    return {
        **step_pod_fields(),
        "retries": get_retries_config(),
        "max_concurrent": Field(
            IntSource,
            is_required=False,
            description="Most steps of the run executing at once; unset: no limit.",
        ),
        "tag_concurrency_limits": get_tag_concurrency_limits_config(),
        "enable_owner_references": Field(
            bool,
            is_required=False,
            default_value=True,
            description="Owner-reference step K8s Jobs to the run pod, so deleting the run pod deletes them.",
        ),
        "step_dependency_config": get_step_dependency_config_field(),
        # --- dagster-ext additions (besides those in step_pod_fields) ---
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
    }
