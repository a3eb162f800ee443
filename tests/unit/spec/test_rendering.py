"""Run, step and external Job manifests: names, labels, defaults, args, images, provenance, YAML."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from dagster_ext.errors import ConfigError
from dagster_ext.k8s.spec import (
    COMPRESSED_STEP_ARGS_ENV,
    Layer,
    MergedConfig,
    annotated_yaml,
    build_external_layers,
    build_run_layers,
    merge_layers,
    parse_k8s_config,
    render_external_k8s_job,
    render_run_k8s_job,
    render_step_k8s_job,
)
from dagster_ext.k8s.spec.manifests import MAX_ARG_BYTES
from dagster_ext.k8s.spec.merging import REPLACED_LISTS, item_path, join

RUN_ID = "aaa0b6f8-b717-4aef-a4aa-4e1c590b960f"


def merged_from(**sections: Any) -> MergedConfig:
    return merge_layers([Layer("run_tags", parse_k8s_config(sections))])


def run_job(merged: MergedConfig | None = None, **kwargs: Any) -> Any:
    return render_run_k8s_job(
        merged or merge_layers([]),
        run_id=RUN_ID,
        dagster_job="process_numbers",
        args=["dagster", "api", "execute_run", "{}"],
        image=kwargs.pop("image", "img:1"),
        **kwargs,
    )


def step_job(merged: MergedConfig | None = None, **kwargs: Any) -> Any:
    kwargs.setdefault("compressed_step_args", "eJzl")
    return render_step_k8s_job(
        merged or merge_layers([]),
        run_id=RUN_ID,
        dagster_job="process_numbers",
        step_key=kwargs.pop("step_key", "generate_numbers"),
        image="img:1",
        **kwargs,
    )


def pod_spec(rendered: Any) -> dict[str, Any]:
    return dict(rendered.manifest["spec"]["template"]["spec"])


def main_container(rendered: Any) -> dict[str, Any]:
    return dict(pod_spec(rendered)["containers"][0])


def env_of(rendered: Any) -> dict[str, Any]:
    return {item["name"]: item for item in main_container(rendered)["env"]}


def test_run_worker_manifest() -> None:
    rendered = run_job(code_location="workflows")
    manifest = rendered.manifest
    assert manifest["apiVersion"] == "batch/v1" and manifest["kind"] == "Job"
    assert rendered.name == manifest["metadata"]["name"] == f"dagster-run-{RUN_ID}"
    assert manifest["spec"]["backoffLimit"] == 0
    assert manifest["spec"]["ttlSecondsAfterFinished"] == 86400
    assert pod_spec(rendered)["restartPolicy"] == "Never"
    container = main_container(rendered)
    assert container["name"] == "dagster"
    assert container["image"] == "img:1"
    assert container["args"] == ["dagster", "api", "execute_run", "{}"]
    assert env_of(rendered)["DAGSTER_RUN_JOB_NAME"]["value"] == "process_numbers"
    for labels in (manifest["metadata"]["labels"], manifest["spec"]["template"]["metadata"]["labels"]):
        assert labels["app.kubernetes.io/name"] == "dagster"
        assert labels["app.kubernetes.io/instance"] == "dagster"
        assert labels["app.kubernetes.io/part-of"] == "dagster"
        assert labels["app.kubernetes.io/component"] == "run_worker"
        assert labels["app.kubernetes.io/version"]
        assert labels["dagster/run-id"] == RUN_ID
        assert labels["dagster/job"] == "process_numbers"
        assert labels["dagster/code-location"] == "workflows"
        assert "dagster/op" not in labels


def test_resume_attempt_suffix() -> None:
    assert run_job(resume_attempt=2).name == f"dagster-run-{RUN_ID}-2"


def test_defaults_are_overridable_but_identity_is_not() -> None:
    merged = merged_from(
        job_spec_config={"ttlSecondsAfterFinished": 60, "backoffLimit": 2},
        pod_spec_config={"restartPolicy": "OnFailure"},
        job_metadata={
            "labels": {"app.kubernetes.io/instance": "prod", "dagster/job": "spoofed", "team": "data"}
        },
    )
    rendered = run_job(merged)
    assert rendered.manifest["spec"]["ttlSecondsAfterFinished"] == 60
    assert rendered.manifest["spec"]["backoffLimit"] == 2
    assert pod_spec(rendered)["restartPolicy"] == "OnFailure"
    labels = rendered.manifest["metadata"]["labels"]
    assert labels["app.kubernetes.io/instance"] == "prod"
    assert labels["team"] == "data"
    assert labels["dagster/job"] == "process_numbers"
    assert rendered.layer_of("metadata.labels[dagster/job]") == "dagster-ext"
    assert rendered.layer_of("metadata.labels.team") == "run_tags"
    assert run_job(ttl_seconds_after_finished=5).manifest["spec"]["ttlSecondsAfterFinished"] == 5


def test_step_worker_manifest_matches_dagster_k8s_naming() -> None:
    from dagster_k8s.job import get_k8s_job_name

    rendered = step_job()
    assert rendered.name == f"dagster-step-{get_k8s_job_name(RUN_ID, 'generate_numbers')}"
    assert step_job(attempt=3).name == f"{rendered.name}-3"
    labels = rendered.manifest["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "step_worker"
    assert labels["dagster/op"] == "generate_numbers"
    env = env_of(rendered)
    assert env["DAGSTER_RUN_STEP_KEY"]["value"] == "generate_numbers"
    assert env["DAGSTER_RUN_JOB_NAME"]["value"] == "process_numbers"
    assert env[COMPRESSED_STEP_ARGS_ENV]["value"] == "eJzl"
    assert main_container(rendered)["args"] == ["dagster", "api", "execute_step"]


def test_step_args_on_the_command_line_unless_too_large() -> None:
    small = step_job(args_in_env=False)
    assert main_container(small)["args"] == [
        "dagster",
        "api",
        "execute_step",
        "--compressed-input-json",
        "eJzl",
    ]
    assert COMPRESSED_STEP_ARGS_ENV not in env_of(small)
    large_payload = "x" * (MAX_ARG_BYTES + 1)
    large = step_job(args_in_env=False, compressed_step_args=large_payload)
    assert main_container(large)["args"] == ["dagster", "api", "execute_step"]
    assert env_of(large)[COMPRESSED_STEP_ARGS_ENV]["value"] == large_payload


def test_step_entry_point_is_configurable() -> None:
    rendered = step_job(entry_point=["/venv/bin/python", "-m", "dagster"])
    assert main_container(rendered)["args"] == ["/venv/bin/python", "-m", "dagster", "api", "execute_step"]


def test_user_cannot_override_dagster_env_vars_but_can_add_env() -> None:
    merged = merged_from(
        container_config={
            "env": [{"name": "DAGSTER_RUN_STEP_KEY", "value": "x"}, {"name": "MINE", "value": "1"}]
        }
    )
    env = env_of(step_job(merged))
    assert env["DAGSTER_RUN_STEP_KEY"]["value"] == "generate_numbers"
    assert env["MINE"]["value"] == "1"


def test_external_job_manifest() -> None:
    layers = build_external_layers(
        launcher_config={"job_namespace": "dagster", "postgres_password_secret": "pg"},
        call_config=parse_k8s_config({"container_config": {"resources": {"limits": {"cpu": "250m"}}}}),
    )
    kwargs: dict[str, Any] = {"run_id": RUN_ID, "dagster_job": "process_words_k8s_job", "step_key": "echo"}
    rendered = render_external_k8s_job(
        merge_layers(layers), image="busybox", command=["/bin/sh", "-c"], args=["echo GOODBYE"], **kwargs
    )
    assert rendered.name.startswith("dagster-k8s-job-")
    assert rendered.manifest["metadata"]["labels"]["app.kubernetes.io/component"] == "k8s_job"
    container = main_container(rendered)
    assert (container["command"], container["args"], container["image"]) == (
        ["/bin/sh", "-c"],
        ["echo GOODBYE"],
        "busybox",
    )
    assert "env" not in container  # no Dagster env vars in a user's container
    assert (
        rendered.layer_of("spec.template.spec.containers[dagster].resources.limits.cpu") == "execute_k8s_job"
    )
    second = render_external_k8s_job(merge_layers(layers), image="busybox", sequence=1, **kwargs)
    assert second.name != rendered.name
    named = render_external_k8s_job(merge_layers(layers), image="busybox", name="my-job", **kwargs)
    assert named.name == "my-job"


def test_missing_image_names_where_one_can_come_from() -> None:
    with pytest.raises(ConfigError) as caught:
        run_job(image=None)
    assert caught.value.path == "spec.template.spec.containers[dagster].image"
    for source in ("container_config.image", "DAGSTER_CURRENT_IMAGE", "job_image"):
        assert source in str(caught.value)


def test_image_sources() -> None:
    layers = build_run_layers(launcher_config={"job_image": "launcher:1"})
    rendered = run_job(merge_layers(layers), image=None)
    assert main_container(rendered)["image"] == "launcher:1"
    assert rendered.layer_of("spec.template.spec.containers[dagster].image") == "run_launcher"
    rendered = run_job(merge_layers(layers), image="explicit:1")
    assert rendered.layer_of("spec.template.spec.containers[dagster].image") == "image argument"


def test_sidecars_come_after_the_main_container() -> None:
    merged = merged_from(pod_spec_config={"containers": [{"name": "proxy", "image": "proxy:1"}]})
    containers = pod_spec(step_job(merged))["containers"]
    assert [item["name"] for item in containers] == ["dagster", "proxy"]


def test_container_config_can_rename_the_main_container() -> None:
    rendered = step_job(merged_from(container_config={"name": "main"}))
    assert main_container(rendered)["name"] == "main"
    assert rendered.layer_of("spec.template.spec.containers[main].image") == "image argument"


def test_null_removes_an_inherited_field_from_the_manifest() -> None:
    layers = [
        Layer("run_launcher", parse_k8s_config({"pod_spec_config": {"nodeSelector": {"a": "b"}}})),
        Layer("op_tags", parse_k8s_config({"pod_spec_config": {"nodeSelector": None}})),
    ]
    assert "nodeSelector" not in pod_spec(step_job(merge_layers(layers)))


def test_label_values_are_sanitised() -> None:
    rendered = render_step_k8s_job(
        merge_layers([]),
        run_id="not a uuid!",
        dagster_job="my job/with:odd chars" + "x" * 80,
        step_key="__weird__step.",
        compressed_step_args="x",
        image="i",
    )
    labels = rendered.manifest["metadata"]["labels"]
    assert labels["dagster/job"].startswith("my-job-with-odd-chars")
    assert len(labels["dagster/job"]) <= 63
    assert labels["dagster/op"] == "weird__step"
    assert labels["dagster/run-id"] == "not-a-uuid"


def test_every_manifest_leaf_has_provenance() -> None:
    merged = merged_from(
        container_config={"env": [{"name": "A", "value": "1"}], "resources": {"limits": {"cpu": "1"}}},
        pod_spec_config={"tolerations": [{"key": "k", "operator": "Exists"}], "nodeSelector": {"a": "b"}},
    )
    rendered = step_job(merged)
    assert leaf_paths(rendered.manifest) == set(rendered.provenance)
    assert set(rendered.provenance.values()) == {"defaults", "run_tags", "dagster-ext", "image argument"}


def leaf_paths(value: Any, path: str = "", key: str | None = None) -> set[str]:
    """Every field path of a manifest, spelled as provenance spells it (command/args whole)."""
    if isinstance(value, dict) and value:
        return set().union(*(leaf_paths(item, join(path, k), k) for k, item in value.items()))
    if isinstance(value, list) and value and key not in REPLACED_LISTS:
        return set().union(*(leaf_paths(item, item_path(path, key, item, i)) for i, item in enumerate(value)))
    return {path}


def test_annotated_yaml_loads_back_and_names_layers() -> None:
    merged = merged_from(container_config={"resources": {"limits": {"cpu": "2000m"}}})
    rendered = step_job(merged, compressed_step_args="line1\nline2")
    text = annotated_yaml(rendered.manifest, rendered.provenance)
    assert yaml.safe_load(text) == rendered.manifest
    (cpu_line,) = [line for line in text.splitlines() if "cpu:" in line]
    assert cpu_line.rstrip().endswith("# run_tags")
    (args_line,) = [line for line in text.splitlines() if line.strip().startswith("args:")]
    assert args_line.rstrip().endswith("# dagster-ext")
