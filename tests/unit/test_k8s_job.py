"""The pure parts of `execute_k8s_job` / `k8s_job_op`: call config → layers → K8s Job manifest.

The external K8s Job starts from the calling step's pod configuration (launcher, code location,
job tag, op tag) and the call's keys override it; keys and signature stay dagster-k8s's.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from dagster_ext.errors import ConfigError
from dagster_ext.k8s.k8s_job import K8sJobCall, StepOrigin, parse_k8s_job_call, render_k8s_job_call
from dagster_ext.k8s.k8s_job.config import k8s_job_op_config_schema
from dagster_ext.k8s.k8s_job.ops import execute_k8s_job
from dagster_ext.k8s.k8s_job.rendering import CallSequence
from dagster_ext.k8s.spec.owners import POD_NAME_ENV, POD_NAMESPACE_ENV, POD_UID_ENV

RUN_ID = "6e1c5d7a-1b2c-4d3e-8f90-123456789abc"
LAUNCHER = {
    "job_namespace": "dagster",
    "postgres_password_secret": "pg",
    "service_account_name": "dagster",
    "env_vars": ["SHARED=1"],
    "volumes": [{"name": "data", "emptyDir": {}}],
    "volume_mounts": [{"name": "data", "mountPath": "/data"}],
    "run_k8s_config": {"pod_spec_config": {"nodeSelector": {"node-group.dp.ssup2": "worker"}}},
}
JOB_TAGS = {
    "dagster-k8s/config": {
        "pod_spec_config": {"tolerations": [{"key": "dedicated", "operator": "Exists"}]},
        "container_config": {"env": [{"name": "FROM_JOB", "value": "1"}]},
    }
}
OP_TAGS = {
    "dagster-k8s/config": {
        "container_config": {"resources": {"limits": {"cpu": "2000m", "memory": "4096Mi"}}},
    }
}


def origin(**overrides: Any) -> StepOrigin:
    values: dict[str, Any] = {
        "run_id": RUN_ID,
        "dagster_job": "process_numbers",
        "step_key": "generate_numbers",
        "launcher_config": LAUNCHER,
        "container_context": {"k8s": {"env": [{"name": "USER", "value": "ssup2"}]}},
        "run_tags": JOB_TAGS,
        "op_tags": OP_TAGS,
        "code_location": "workflows",
    }
    return StepOrigin(**{**values, **overrides})


def call(**keys: Any) -> K8sJobCall:
    return parse_k8s_job_call({"image": "busybox", **keys}, path="execute_k8s_job", environ={})


def render(k8s_call: K8sJobCall, *, environ: dict[str, str] | None = None, **origin_overrides: Any) -> Any:
    return render_k8s_job_call(k8s_call, origin(**origin_overrides), sequence=0, environ=environ or {})


def pod_spec(rendered: Any) -> dict[str, Any]:
    return dict(rendered.manifest["spec"]["template"]["spec"])


def container(rendered: Any) -> dict[str, Any]:
    return dict(pod_spec(rendered)["containers"][0])


def env(rendered: Any) -> dict[str, str]:
    return {item["name"]: item.get("value") for item in container(rendered).get("env", [])}


def test_the_k8s_job_inherits_the_step_pod_configuration() -> None:
    rendered = render(call(command=["/bin/sh", "-c"], args=["echo hi"]))
    spec = pod_spec(rendered)
    assert rendered.namespace == "dagster" == rendered.manifest["metadata"]["namespace"]
    assert spec["nodeSelector"] == {"node-group.dp.ssup2": "worker"}  # run launcher
    assert spec["serviceAccountName"] == "dagster"
    assert spec["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]  # job tag
    assert spec["volumes"] == [{"name": "data", "emptyDir": {}}]
    main = container(rendered)
    assert main["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    assert main["resources"]["limits"] == {"cpu": "2000m", "memory": "4096Mi"}  # op tag
    assert (main["image"], main["command"], main["args"]) == ("busybox", ["/bin/sh", "-c"], ["echo hi"])
    # the step's env, but none of Dagster's own (no DAGSTER_HOME, no PostgreSQL password)
    assert env(rendered) == {"SHARED": "1", "USER": "ssup2", "FROM_JOB": "1"}
    assert rendered.layer_of("spec.template.spec.tolerations[0].key") == "run_tags"
    assert rendered.layer_of("spec.template.spec.containers[dagster].resources.limits.cpu") == "op_tags"
    labels = rendered.manifest["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "k8s_job"
    assert labels["dagster/op"] == "generate_numbers"
    assert labels["dagster/code-location"] == "workflows"
    assert rendered.name.startswith("dagster-k8s-job-")


def test_call_keys_override_the_inherited_configuration() -> None:
    rendered = render(
        call(
            namespace="batch",
            resources={"limits": {"cpu": "500m", "memory": "1Gi"}},
            env_vars=["FROM_JOB=call"],
            service_account_name="worker",
            labels={"team": "data"},
            pod_spec_config={"node_selector": {"disk": "ssd"}},
            image_pull_policy="IfNotPresent",
        )
    )
    spec, main = pod_spec(rendered), container(rendered)
    assert rendered.namespace == "batch"
    assert main["resources"]["limits"] == {"cpu": "500m", "memory": "1Gi"}
    assert env(rendered)["FROM_JOB"] == "call"
    assert spec["serviceAccountName"] == "worker"
    assert spec["nodeSelector"] == {"node-group.dp.ssup2": "worker", "disk": "ssd"}  # DEEP
    assert main["imagePullPolicy"] == "IfNotPresent"
    assert rendered.manifest["metadata"]["labels"]["team"] == "data"
    assert rendered.manifest["spec"]["template"]["metadata"]["labels"]["team"] == "data"
    assert (
        rendered.layer_of("spec.template.spec.containers[dagster].resources.limits.cpu") == "execute_k8s_job"
    )


def test_shallow_merge_behavior_replaces_inherited_sections_keys() -> None:
    rendered = render(call(pod_spec_config={"nodeSelector": {"disk": "ssd"}}, merge_behavior="SHALLOW"))
    assert pod_spec(rendered)["nodeSelector"] == {"disk": "ssd"}


def test_command_and_args_beat_container_config_but_image_does_not() -> None:
    rendered = render(
        call(
            command=["run"],
            args=["--fast"],
            container_config={"command": ["ignored"], "args": ["ignored"], "image": "custom:1"},
        )
    )
    main = container(rendered)
    assert (main["command"], main["args"], main["image"]) == (["run"], ["--fast"], "custom:1")


def test_inheritance_can_be_switched_off() -> None:
    rendered = render(call(inherit_run_tags=False, inherit_op_tags=False))
    assert "tolerations" not in pod_spec(rendered)
    assert "resources" not in container(rendered)
    assert pod_spec(rendered)["nodeSelector"] == {"node-group.dp.ssup2": "worker"}  # launcher stays


def test_owner_reference_to_the_pod_the_step_runs_in() -> None:
    environ = {POD_NAME_ENV: "dagster-run-x-abcde", POD_NAMESPACE_ENV: "dagster", POD_UID_ENV: "uid-1"}
    owned = render(call(), environ=environ)
    assert owned.manifest["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": "dagster-run-x-abcde", "uid": "uid-1"}
    ]
    elsewhere = render(call(namespace="other"), environ=environ)  # owner refs cannot cross namespaces
    assert "ownerReferences" not in elsewhere.manifest["metadata"]
    disabled = render(call(enable_owner_references=False), environ=environ)
    assert "ownerReferences" not in disabled.manifest["metadata"]


def test_namespace_without_launcher_is_the_pod_namespace_then_default() -> None:
    assert render(call(), launcher_config=None).namespace == "default"
    environ = {POD_NAMESPACE_ENV: "team-a"}
    assert render(call(), launcher_config=None, environ=environ).namespace == "team-a"


def test_names_custom_with_retry_suffix_and_numbered_calls() -> None:
    assert render(call(k8s_job_name="nightly-export")).name == "nightly-export"
    assert render(call(k8s_job_name="nightly-export"), attempt=2).name == "nightly-export-2"
    first = render_k8s_job_call(call(), origin(), sequence=0, environ={})
    second = render_k8s_job_call(call(), origin(), sequence=1, environ={})
    assert first.name != second.name
    numbers = CallSequence()
    assert [numbers.next(origin()) for _ in range(3)] == [0, 1, 2]
    assert numbers.next(origin(attempt=1)) == 0


def test_every_problem_is_named_with_its_key_path_in_one_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_k8s_job_call(
            {
                "image": "busybox",
                "pod_spec_config": {"nodeSelectr": {"a": "b"}},
                "resources": {"limits": {"cpu": "2 cores"}},
                "k8s_job_name": "Not_Valid",
                "timeout": -1,
                "command": "echo hi",
            },
            path="ops.work.config",
            environ={},
        )
    text = str(caught.value)
    assert "ops.work.config.pod_spec_config.nodeSelectr: unknown field; did you mean 'nodeSelector'?" in text
    assert "ops.work.config.resources.limits.cpu" in text
    assert "ops.work.config.k8s_job_name" in text
    assert "ops.work.config.timeout" in text
    assert "ops.work.config.command" in text


def test_wrongly_shaped_sections_are_config_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_k8s_job_call(
            {"image": "x", "container_config": "image: y", "volumes": "data"}, path="p", environ={}
        )
    assert caught.value.path in ("p.container_config", "p.volumes")
    assert "p.container_config" in str(caught.value) and "p.volumes" in str(caught.value)


def test_env_vars_read_from_the_op_process_environment() -> None:
    parsed = parse_k8s_job_call({"image": "x", "env_vars": ["TOKEN"]}, path="p", environ={"TOKEN": "t"})
    assert parsed.shorthand.container_config["env"] == [{"name": "TOKEN", "value": "t"}]
    with pytest.raises(ConfigError, match=r"p\.env_vars\[0\]"):
        parse_k8s_job_call({"image": "x", "env_vars": ["TOKEN"]}, path="p", environ={})


def test_settings_from_the_call() -> None:
    parsed = call(
        timeout=30,
        delete_failed_k8s_jobs=False,
        load_incluster_config=False,
        kubeconfig_file="/k",
        failure_grace_seconds={"image_pull": 5},
        log_tail_lines=7,
    )
    assert parsed.timeout_s == 30 and parsed.delete_failed_k8s_jobs is False
    assert (parsed.connection.load_incluster_config, parsed.connection.kubeconfig_file) == (False, "/k")
    assert parsed.diagnosis.image_pull_grace_s == 5
    assert parsed.log_tail_lines == 7
    defaults = call()
    assert (defaults.delete_failed_k8s_jobs, defaults.connection.load_incluster_config) == (True, True)


def test_unknown_argument_is_named_before_the_context_is_used() -> None:
    with pytest.raises(ConfigError, match=r"execute_k8s_job\.node_selector: unknown argument"):
        execute_k8s_job(None, image="busybox", node_selector={"a": "b"})  # type: ignore[arg-type]


def test_config_keys_and_signature_are_a_superset_of_dagster_k8s() -> None:
    from dagster_k8s.ops.k8s_job_op import K8S_JOB_OP_CONFIG
    from dagster_k8s.ops.k8s_job_op import execute_k8s_job as theirs

    assert set(K8S_JOB_OP_CONFIG) <= set(k8s_job_op_config_schema())
    ours = inspect.signature(execute_k8s_job).parameters
    for position, (name, parameter) in enumerate(inspect.signature(theirs).parameters.items()):
        assert name in ours, name
        assert list(ours).index(name) == position, name  # positional calls keep working
        # merge_behavior: an enum there, its name here; load_incluster_config: unset means the
        # launcher's connection (docs/compat.md #35)
        if parameter.default is not inspect.Parameter.empty and name not in DIFFERENT_DEFAULTS:
            assert ours[name].default == parameter.default, name
    assert ours["load_incluster_config"].default is None


DIFFERENT_DEFAULTS = ("merge_behavior", "load_incluster_config")


def test_deadline_condition_is_the_reason_not_the_killed_pods_exit_code() -> None:
    from dagster_ext.k8s.k8s_job.running import job_deadline_failure

    def k8s_job(kind: str, reason: str) -> dict[str, Any]:
        cond = {"type": kind, "status": "True", "reason": reason, "message": "m"}
        return {"status": {"conditions": [cond]}}

    for kind in ("FailureTarget", "Failed"):
        found = job_deadline_failure(k8s_job(kind, "DeadlineExceeded"))
        assert found is not None and found.reason is not None
        assert (found.reason.value, found.message) == ("DeadlineExceeded", "m")
    assert job_deadline_failure(k8s_job("Failed", "BackoffLimitExceeded")) is None
    assert job_deadline_failure(None) is None


EXECUTOR = {
    "job_namespace": "steps",
    "env_vars": ["FROM_EXECUTOR=1", "SHARED=executor"],
    "step_k8s_config": {
        "container_config": {"resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}},
        "pod_spec_config": {"nodeSelector": {"pool": "steps"}},
    },
    "per_step_k8s_config": {
        "generate_numbers": {"container_config": {"env": [{"name": "PER_STEP", "value": "1"}]}},
        "other_op": {"pod_spec_config": {"nodeSelector": {"pool": "other"}}},
    },
}


def test_under_our_step_executor_the_k8s_job_starts_from_the_step_pod_layers() -> None:
    rendered = render(call(), executor_config=EXECUTOR, op_name="generate_numbers")
    spec = pod_spec(rendered)
    assert spec["nodeSelector"] == {"node-group.dp.ssup2": "worker", "pool": "steps"}  # launcher + executor
    assert env(rendered)["SHARED"] == "executor"  # the executor beats the launcher
    assert env(rendered)["FROM_EXECUTOR"] == "1"
    assert env(rendered)["PER_STEP"] == "1"  # per_step_k8s_config of the calling op only
    assert container(rendered)["resources"]["limits"] == {"cpu": "2000m", "memory": "4096Mi"}  # op tags win
    assert rendered.namespace == "steps"
    assert rendered.layer_of("spec.template.spec.nodeSelector.pool") == "executor"
    assert (
        rendered.layer_of("spec.template.spec.containers[dagster].env[PER_STEP].value")
        == "per_step_k8s_config"
    )


def test_the_call_beats_the_executor_layers_and_other_executors_add_none() -> None:
    overridden = render(
        call(
            pod_spec_config={"nodeSelector": {"pool": "mine"}}, env_vars=["PER_STEP=call"], namespace="calls"
        ),
        executor_config=EXECUTOR,
        op_name="generate_numbers",
    )
    assert pod_spec(overridden)["nodeSelector"]["pool"] == "mine"
    assert env(overridden)["PER_STEP"] == "call"
    assert overridden.namespace == "calls"
    plain = render(call(), executor_config=None, op_name="generate_numbers")
    assert "pool" not in pod_spec(plain)["nodeSelector"]
    assert "FROM_EXECUTOR" not in env(plain)
