"""The run launcher's `dagster.yaml` schema: every dagster_k8s.K8sRunLauncher key, plus ours.

Users switch by changing `module: dagster_k8s` to `module: dagster_ext.k8s`; nothing else. The
dagster-k8s keys keep their meaning; ours only add (TTL, failure grace periods, log lines).
A unit test walks every key of both schemas against this one and the constructor.
"""

from __future__ import annotations

from typing import Any

from dagster import Array, Bool, BoolSource, Field, IntSource, Map, Noneable, Permissive, Shape, StringSource

DAGSTER_HOME_DEFAULT = "/opt/dagster/dagster_home"

_K8S_CONFIG_SECTIONS = (
    "container_config",
    "pod_template_spec_metadata",
    "pod_spec_config",
    "job_config",
    "job_metadata",
    "job_spec_config",
)


def k8s_config_shape() -> Shape:
    """A `dagster-k8s/config`-shaped value; contents are validated by `dagster_ext.k8s.spec`."""
    fields: dict[str, Field] = {name: Field(Permissive(), is_required=False) for name in _K8S_CONFIG_SECTIONS}
    fields["merge_behavior"] = Field(StringSource, is_required=False)
    return Shape(fields)


def container_fields() -> dict[str, Field]:
    """Keys shared by the launcher, the step executor and container contexts."""
    volume_mount = Permissive(
        {
            "name": StringSource,
            "mount_path": Field(StringSource, is_required=False),
            "mount_propagation": Field(StringSource, is_required=False),
            "read_only": Field(BoolSource, is_required=False),
            "sub_path": Field(StringSource, is_required=False),
            "sub_path_expr": Field(StringSource, is_required=False),
        }
    )
    return {
        "job_image": Field(Noneable(StringSource), is_required=False),
        "image_pull_policy": Field(Noneable(StringSource), is_required=False),
        "image_pull_secrets": Field(Noneable(Array(Shape({"name": StringSource}))), is_required=False),
        "service_account_name": Field(Noneable(StringSource), is_required=False),
        "env_config_maps": Field(Noneable(Array(StringSource)), is_required=False),
        "env_secrets": Field(Noneable(Array(StringSource)), is_required=False),
        "env_vars": Field(Noneable(Array(str)), is_required=False),
        "volume_mounts": Field(Array(volume_mount), is_required=False, default_value=[]),
        "volumes": Field(Array(Permissive({"name": str})), is_required=False, default_value=[]),
        "labels": Field(Permissive(), is_required=False),
        "resources": Field(Noneable(Permissive()), is_required=False),
        "scheduler_name": Field(Noneable(StringSource), is_required=False),
        "security_context": Field(Permissive(), is_required=False),
    }


def connection_fields(*, incluster_default: bool) -> dict[str, Field]:
    return {
        "load_incluster_config": Field(bool, is_required=False, default_value=incluster_default),
        "kubeconfig_file": Field(Noneable(str), is_required=False, default_value=None),
        "k8s_api_ssl_ca_cert_file": Field(Noneable(str), is_required=False, default_value=None),
    }


def step_pod_fields() -> dict[str, Field]:
    """What a step K8s Job's pod is made of, for every executor that runs steps as K8s Jobs (the
    K8s step executor, the Celery executor's `k8s_job` mode): same names, same meaning."""
    return {
        **container_fields(),
        "load_incluster_config": Field(bool, is_required=False),
        "kubeconfig_file": Field(Noneable(str), is_required=False),
        "job_namespace": Field(StringSource, is_required=False),
        "step_k8s_config": Field(k8s_config_shape(), is_required=False),
        "per_step_k8s_config": Field(
            Map(str, k8s_config_shape(), key_label_name="step_name"), is_required=False, default_value={}
        ),
        "inherit_run_tags": Field(
            Bool,
            is_required=False,
            default_value=True,
            description="Step pods include the job-level dagster-k8s/config tag, as the run pod does.",
        ),
        **dagster_ext_fields(),
    }


def dagster_ext_fields() -> dict[str, Field]:
    """Keys dagster-k8s does not have."""
    return {
        "k8s_job_ttl_seconds": Field(
            IntSource,
            is_required=False,
            default_value=86400,
            description="ttlSecondsAfterFinished of run K8s Jobs (0 disables the TTL).",
        ),
        "failure_grace_seconds": Field(
            Shape(
                {
                    "image_pull": Field(float, is_required=False, default_value=30.0),
                    "unschedulable": Field(float, is_required=False, default_value=60.0),
                    "container_config": Field(float, is_required=False, default_value=10.0),
                    "failed_create": Field(float, is_required=False, default_value=0.0),
                }
            ),
            is_required=False,
            description="How long a stuck pod may stay stuck before the run worker counts as failed.",
        ),
        "log_tail_lines": Field(
            IntSource,
            is_required=False,
            default_value=25,
            description="Lines of the run worker's log quoted in failure messages and debug info.",
        ),
    }


def launcher_config_schema() -> dict[str, Field]:
    allow_fields = Shape(
        {name: Field(Map(key_type=str, inner_type=bool), is_required=False) for name in _K8S_CONFIG_SECTIONS}
    )
    return {
        **container_fields(),
        "instance_config_map": Field(StringSource, is_required=False),
        "postgres_password_secret": Field(StringSource, is_required=False),
        "dagster_home": Field(StringSource, is_required=False, default_value=DAGSTER_HOME_DEFAULT),
        **connection_fields(incluster_default=True),
        "fail_pod_on_run_failure": Field(bool, is_required=False),
        "run_k8s_config": Field(k8s_config_shape(), is_required=False),
        "job_namespace": Field(StringSource, is_required=False, default_value="default"),
        "only_allow_user_defined_k8s_config_fields": Field(allow_fields, is_required=False),
        "only_allow_user_defined_env_vars": Field(Array(str), is_required=False),
        **dagster_ext_fields(),
    }


def normalized(config_value: dict[str, Any]) -> dict[str, Any]:
    """Fill optional keys the Dagster config system leaves out, so attribute access is uniform."""
    out = dict(config_value)
    for key in launcher_config_schema():
        out.setdefault(key, None)
    return out
