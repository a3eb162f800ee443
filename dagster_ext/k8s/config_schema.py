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
        "job_image": Field(
            Noneable(StringSource),
            is_required=False,
            description="Image used when neither a container_config.image nor the code location names one.",
        ),
        "image_pull_policy": Field(
            Noneable(StringSource), is_required=False, description="Always, IfNotPresent or Never."
        ),
        "image_pull_secrets": Field(
            Noneable(Array(Shape({"name": StringSource}))),
            is_required=False,
            description="Secrets the kubelet pulls the image with.",
        ),
        "service_account_name": Field(
            Noneable(StringSource), is_required=False, description="ServiceAccount the pod runs as."
        ),
        "env_config_maps": Field(
            Noneable(Array(StringSource)),
            is_required=False,
            description="ConfigMaps whose keys become environment variables of the container.",
        ),
        "env_secrets": Field(
            Noneable(Array(StringSource)),
            is_required=False,
            description="Secrets whose keys become environment variables of the container.",
        ),
        "env_vars": Field(
            Noneable(Array(str)),
            is_required=False,
            description="Environment variables: KEY=VALUE, or KEY alone to copy the value from the process "
            "that creates the K8s Job.",
        ),
        "volume_mounts": Field(
            Array(volume_mount),
            is_required=False,
            default_value=[],
            description="Volume mounts of the container (Kubernetes VolumeMount fields, snake case).",
        ),
        "volumes": Field(
            Array(Permissive({"name": str})),
            is_required=False,
            default_value=[],
            description="Volumes of the pod (Kubernetes Volume fields).",
        ),
        "labels": Field(
            Permissive(), is_required=False, description="Labels added to the K8s Job and its pods."
        ),
        "resources": Field(
            Noneable(Permissive()),
            is_required=False,
            description="The container's requests and limits: {requests: {cpu, memory}, limits: {...}}.",
        ),
        "scheduler_name": Field(
            Noneable(StringSource), is_required=False, description="Scheduler that places the pod."
        ),
        "security_context": Field(
            Permissive(), is_required=False, description="securityContext of the container."
        ),
    }


def connection_fields(*, incluster_default: bool) -> dict[str, Field]:
    return {
        "load_incluster_config": Field(
            bool,
            is_required=False,
            default_value=incluster_default,
            description="Connect with the pod's own ServiceAccount; false: with kubeconfig_file, or the "
            "default kubeconfig.",
        ),
        "kubeconfig_file": Field(
            Noneable(str),
            is_required=False,
            default_value=None,
            description="kubeconfig to connect with when load_incluster_config is false.",
        ),
        "k8s_api_ssl_ca_cert_file": Field(
            Noneable(str),
            is_required=False,
            default_value=None,
            description="CA bundle that verifies the Kubernetes API's certificate.",
        ),
    }


def step_pod_fields() -> dict[str, Field]:
    """What a step K8s Job's pod is made of, for every executor that runs steps as K8s Jobs (the
    K8s step executor, the Celery executor's `k8s_job` mode): same names, same meaning."""
    return {
        **container_fields(),
        "load_incluster_config": Field(
            bool,
            is_required=False,
            description="How the run worker connects to Kubernetes; unset: in-cluster when it runs in a "
            "pod, else as the K8s run launcher does.",
        ),
        "kubeconfig_file": Field(
            Noneable(str),
            is_required=False,
            description="kubeconfig to connect with; unset: none in a pod, else the K8s run launcher's.",
        ),
        "job_namespace": Field(
            StringSource,
            is_required=False,
            description="Namespace of the step K8s Jobs; unset: the K8s run launcher's, else default.",
        ),
        "step_k8s_config": Field(
            k8s_config_shape(), is_required=False, description="Settings for every step pod of the run."
        ),
        "per_step_k8s_config": Field(
            Map(str, k8s_config_shape(), key_label_name="step_name"),
            is_required=False,
            default_value={},
            description="Settings for the steps of one op, by op name; applied last.",
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
            description="ttlSecondsAfterFinished of the K8s Jobs created here: Kubernetes deletes a "
            "finished K8s Job this long after it ended (0: never).",
        ),
        "failure_grace_seconds": Field(
            Shape(
                {
                    "image_pull": Field(float, is_required=False, default_value=30.0),
                    "unschedulable": Field(float, is_required=False, default_value=60.0),
                    "container_config": Field(float, is_required=False, default_value=10.0),
                    "failed_create": Field(float, is_required=False, default_value=0.0),
                    "capacity": Field(
                        float,
                        is_required=False,
                        description="Seconds a pod may wait for busy nodes to free room (the scheduler "
                        "names only missing resources and the pod fits an empty node); unset: no limit.",
                    ),
                }
            ),
            is_required=False,
            description="Seconds a pod may stay stuck for each cause (image pull, unschedulable, "
            "container config error, FailedCreate, waiting for capacity) before its run or step "
            "fails with that reason.",
        ),
        "log_tail_lines": Field(
            IntSource,
            is_required=False,
            default_value=25,
            description="Lines of a failed container's log quoted in the failure message.",
        ),
    }


def launcher_config_schema() -> dict[str, Field]:
    allow_fields = Shape(
        {name: Field(Map(key_type=str, inner_type=bool), is_required=False) for name in _K8S_CONFIG_SECTIONS}
    )
    return {
        **container_fields(),
        "instance_config_map": Field(
            StringSource,
            is_required=False,
            description="Accepted as in dagster-k8s (the Helm chart sets it); run pods do not use it.",
        ),
        "postgres_password_secret": Field(
            StringSource,
            is_required=False,
            description="Secret whose postgresql-password key becomes DAGSTER_PG_PASSWORD in run and "
            "step pods.",
        ),
        "dagster_home": Field(
            StringSource,
            is_required=False,
            default_value=DAGSTER_HOME_DEFAULT,
            description="DAGSTER_HOME in run and step pods.",
        ),
        **connection_fields(incluster_default=True),
        "fail_pod_on_run_failure": Field(
            bool,
            is_required=False,
            description="The run pod exits non-zero when the run fails, so its K8s Job fails too.",
        ),
        "run_k8s_config": Field(
            k8s_config_shape(),
            is_required=False,
            description="Settings for every run pod; step pods inherit them.",
        ),
        "job_namespace": Field(
            StringSource, is_required=False, default_value="default", description="Namespace of run K8s Jobs."
        ),
        "only_allow_user_defined_k8s_config_fields": Field(
            allow_fields,
            is_required=False,
            description="The only fields, per section, that user code (code location, job and op tags) "
            "may set; others are rejected with their key path.",
        ),
        "only_allow_user_defined_env_vars": Field(
            Array(str),
            is_required=False,
            description="The only environment variables that user code may set.",
        ),
        **dagster_ext_fields(),
    }


def normalized(config_value: dict[str, Any]) -> dict[str, Any]:
    """Fill optional keys the Dagster config system leaves out, so attribute access is uniform."""
    out = dict(config_value)
    for key in launcher_config_schema():
        out.setdefault(key, None)
    return out
