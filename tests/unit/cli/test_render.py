"""`dagster-ext render` on the seed example and on a fixture code location."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from dagster_ext.cli import main

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "definitions.py"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED_LAUNCHER = {
    "run_launcher": {
        "module": "dagster_k8s",
        "class": "K8sRunLauncher",
        "config": {
            "load_incluster_config": True,
            "job_namespace": "dagster",
            "image_pull_policy": "Always",
            "service_account_name": "dagster",
            "dagster_home": "/opt/dagster/dagster_home",
            "instance_config_map": "dagster-instance",
            "postgres_password_secret": "dagster-postgresql-secret",
            "run_k8s_config": {"pod_spec_config": {"nodeSelector": {"node-group.dp.ssup2": "worker"}}},
        },
    }
}


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    path = tmp_path / "dagster.yaml"
    path.write_text(yaml.safe_dump(SEED_LAUNCHER))
    return path


def render(*args: str, env: dict[str, str | None] | None = None) -> Result:
    base_env = {
        "DAGSTER_CURRENT_IMAGE": "ghcr.io/example/workflows:0.4.8",
        "DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT": None,
    }
    return CliRunner().invoke(
        main, ["render", *args], env={**base_env, **(env or {})}, catch_exceptions=False
    )


def documents(output: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(output) if doc]


def step_document(output: str) -> tuple[dict[str, Any], str]:
    """The (single) step worker manifest and its annotated text."""
    texts = output.split("---\n")
    (text,) = [text for text in texts if "# Step worker Job" in text]
    return yaml.safe_load(text), text


def annotated_line(text: str, field: str) -> str:
    (line,) = [line for line in text.splitlines() if line.strip().startswith(field)]
    return line


def test_seed_acceptance_step_pod_resources_from_op_tag_node_selector_inherited(instance: Path) -> None:
    result = render(
        "-f",
        str(EXAMPLES),
        "--job",
        "process_numbers",
        "--op",
        "generate_numbers",
        "--instance",
        str(instance),
    )
    assert result.exit_code == 0, result.output
    manifest, text = step_document(result.output)
    pod = manifest["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"node-group.dp.ssup2": "worker"}
    resources = pod["containers"][0]["resources"]
    assert resources == {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"cpu": "2000m", "memory": "4096Mi"},
    }
    assert annotated_line(text, "node-group.dp.ssup2: worker").endswith("# run_launcher")
    for field in ("cpu: 250m", "memory: 512Mi", "cpu: 2000m", "memory: 4096Mi"):
        lines = [line for line in text.splitlines() if line.strip().startswith(field)]
        assert len(lines) == 1 and lines[0].endswith("# op_tags"), (field, lines)
    assert manifest["metadata"]["name"].startswith("dagster-step-")
    assert manifest["metadata"]["labels"]["dagster/op"] == "generate_numbers"


def test_run_manifest_is_rendered_first_with_job_tag_resources(instance: Path) -> None:
    result = render("-f", str(EXAMPLES), "--job", "process_numbers", "--instance", str(instance))
    assert result.exit_code == 0, result.output
    run, *steps = documents(result.output)
    assert run["metadata"]["name"] == "dagster-run-aaa0b6f8-b717-4aef-a4aa-4e1c590b960f"
    assert run["metadata"]["namespace"] == "dagster"
    assert run["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "2000m"
    assert len(steps) == 6
    assert "# run_tags" in result.output.split("---\n")[0]


def test_the_repository_instance_with_the_dagster_ext_launcher() -> None:
    result = render(
        "-f",
        str(EXAMPLES),
        "--job",
        "process_numbers",
        "--op",
        "generate_numbers",
        "--instance",
        str(ROOT / "examples" / "instance"),
    )
    assert result.exit_code == 0, result.output
    manifest, _ = step_document(result.output)
    assert manifest["spec"]["template"]["spec"]["nodeSelector"] == {"node-group.dp.ssup2": "worker"}


def test_asset_job_selected_by_asset_key_inherits_job_tag_node_selector() -> None:
    args = [
        "-f",
        str(EXAMPLES),
        "--job",
        "process_numbers_asset",
        "--op",
        "examples/generated_numbers",
        "--show",
        "steps",
    ]
    result = render(*args)
    assert result.exit_code == 0, result.output
    manifest, text = step_document(result.output)
    assert manifest["spec"]["template"]["spec"]["nodeSelector"] == {"node-group.dp.ssup2": "worker"}
    assert annotated_line(text, "node-group.dp.ssup2").endswith("# run_tags")
    assert manifest["metadata"]["labels"]["dagster/op"] == "examples__generated_numbers"
    isolated = render(*args, "--no-inherit-run-tags")
    assert "nodeSelector" not in step_document(isolated.output)[0]["spec"]["template"]["spec"]


def test_container_context_from_the_grpc_env_var_and_secrets_stay_unresolved() -> None:
    context = {
        "k8s": {
            "env": [{"name": "USER", "value": "ssup2"}],
            "env_vars": ["API_TOKEN"],
            "env_secrets": ["creds"],
        }
    }
    env = {"DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT": json.dumps(context), "API_TOKEN": "hunter2"}
    result = render(
        "-m", "examples.definitions", "-d", str(ROOT), "--job", "process_numbers", "--show", "run", env=env
    )
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output
    assert annotated_line(result.output, "value: ssup2").endswith("# code_location")
    (run,) = documents(result.output)
    container = run["spec"]["template"]["spec"]["containers"][0]
    assert {"secretRef": {"name": "creds"}} in container["envFrom"]
    assert container["image"] == "ghcr.io/example/workflows:0.4.8"


def test_executor_config_per_step(tmp_path: Path) -> None:
    executor = tmp_path / "run_config.yaml"
    executor.write_text(
        yaml.safe_dump(
            {
                "execution": {
                    "config": {
                        "step_k8s_config": {"pod_spec_config": {"priorityClassName": "batch"}},
                        "per_step_k8s_config": {
                            "generate_numbers": {"container_config": {"resources": {"limits": {"cpu": "3"}}}}
                        },
                    }
                }
            }
        )
    )
    result = render(
        "-f",
        str(EXAMPLES),
        "--job",
        "process_numbers",
        "--op",
        "generate_numbers",
        "--show",
        "steps",
        "--executor-config",
        str(executor),
    )
    assert result.exit_code == 0, result.output
    manifest, text = step_document(result.output)
    assert manifest["spec"]["template"]["spec"]["priorityClassName"] == "batch"
    assert annotated_line(text, "priorityClassName").endswith("# executor")
    assert annotated_line(text, "cpu: '3'").endswith("# per_step_k8s_config")


def test_plain_output_has_no_comments() -> None:
    result = render("-f", str(EXAMPLES), "--job", "process_numbers", "--op", "sum_two_sums", "--plain")
    assert result.exit_code == 0, result.output
    assert "#" not in result.output
    assert len(documents(result.output)) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-f", str(FIXTURES / "bad_tags.py"), "--job", "typo_job"],
            "dagster-k8s/config.pod_spec_config.nodeSelectr: unknown field; did you mean 'nodeSelector'?",
        ),
        (["-f", str(EXAMPLES), "--job", "nope"], "--job: no job 'nope'"),
        (["-f", str(EXAMPLES), "--job", "process_numbers", "--op", "nope"], "--op: no step matches nope"),
        (
            [
                "-f",
                str(EXAMPLES),
                "--job",
                "process_numbers",
                "--container-context",
                '{"k8s": {"resouces": {}}}',
            ],
            "container_context.k8s.resouces: unknown key; did you mean 'resources'?",
        ),
    ],
)
def test_config_errors_exit_2_without_traceback(args: list[str], message: str) -> None:
    result = render(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_image_is_a_config_error() -> None:
    result = render(
        "-f", str(EXAMPLES), "--job", "process_numbers", "--show", "run", env={"DAGSTER_CURRENT_IMAGE": None}
    )
    assert result.exit_code == 2
    assert "DAGSTER_CURRENT_IMAGE" in result.output
