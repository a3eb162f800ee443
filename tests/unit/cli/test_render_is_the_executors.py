"""`dagster-ext render` and the K8s step executor render a step's K8s Job through one function
(`step_pods.render_step`) with the same inputs: the executor's side is a real Dagster step
handler context of the same job, under an instance with our K8s run launcher and allowlists.
The same context shows that a step under our executor hands its executor config (and so
`step_k8s_config` / `per_step_k8s_config`) to `execute_k8s_job`."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from dagster import DagsterInstance
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.execution.api import create_execution_plan
from dagster._core.execution.context.system import PlanData, PlanOrchestrationContext
from dagster._core.execution.context_creation_job import create_context_free_log_manager, scoped_job_context
from dagster._core.execution.plan.step import ExecutionStep
from dagster._core.execution.retries import RetryMode
from dagster._core.executor.in_process import InProcessExecutor
from dagster._core.executor.step_delegating.step_handler.base import StepHandlerContext
from dagster._core.system_config.objects import ResolvedRunConfig
from dagster._grpc.types import ExecuteStepArgs

from dagster_ext.cli import main
from dagster_ext.cli.render import STEP_ARGS_PLACEHOLDER
from dagster_ext.k8s import step_pods
from dagster_ext.k8s.k8s_job import StepOrigin, parse_k8s_job_call, render_k8s_job_call
from dagster_ext.k8s.spec import COMPRESSED_STEP_ARGS_ENV
from dagster_ext.k8s.step_pods import (
    StepRenderInputs,
    k8s_step_executor_config,
    render_step_pod,
    step_render_inputs,
)

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "step_defs.py"
RUN_ID = "0b1e2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
LAUNCHER = {
    "module": "dagster_ext.k8s",
    "class": "K8sRunLauncher",
    "config": {
        "job_namespace": "dagster",
        "service_account_name": "dagster",
        "only_allow_user_defined_env_vars": ["FROM_OP"],
        "k8s_job_ttl_seconds": 100,
    },
}


@pytest.fixture
def dagster_home(tmp_path: Path) -> Path:
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump({"run_launcher": LAUNCHER}))
    return tmp_path


def handler_context(home: Path) -> tuple[StepHandlerContext, dict[str, Any]]:
    """A step handler context as the executor gets it (no Kubernetes involved)."""
    recon = ReconstructableJob.for_file(str(FIXTURE), "step_job")
    job_def = recon.get_definition()
    instance = DagsterInstance.from_config(str(home))
    run = instance.create_run_for_job(job_def, run_id=RUN_ID, tags=job_def.tags)
    plan = create_execution_plan(recon)
    executor_config = dict(ResolvedRunConfig.build(job_def, {}).execution.execution_engine_config)
    plan_context = PlanOrchestrationContext(
        plan_data=PlanData(job=recon, dagster_run=run, instance=instance, execution_plan=plan),
        log_manager=create_context_free_log_manager(instance, run),
        executor=InProcessExecutor(retries=RetryMode.DISABLED, marker_to_close=None),
        output_capture=None,
    )
    args = ExecuteStepArgs(recon.get_python_origin(), run.run_id, ["heavy"], instance_ref=None)
    steps = [step for step in plan.steps if isinstance(step, ExecutionStep)]
    ctx = StepHandlerContext(instance, plan_context, steps, args, run)
    return ctx, executor_config


def test_the_cli_and_the_executor_call_render_step_with_the_same_inputs(
    dagster_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, executor_config = handler_context(dagster_home)
    seen: list[StepRenderInputs] = []
    real = step_pods.render_step

    def recording(inputs: StepRenderInputs) -> Any:
        seen.append(inputs)
        return real(inputs)

    monkeypatch.setattr(step_pods, "render_step", recording)
    monkeypatch.setattr("dagster_ext.cli.render.render_step", recording)
    executor_job = render_step_pod(ctx, executor_config=executor_config, environ={}).manifest
    monkeypatch.delenv("DAGSTER_CURRENT_IMAGE", raising=False)
    monkeypatch.delenv("DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT", raising=False)
    result = CliRunner().invoke(
        main,
        [
            *("render", "-f", str(FIXTURE), "--job", "step_job", "--show", "steps", "--plain"),
            *("--run-id", RUN_ID, "--instance", str(dagster_home / "dagster.yaml")),
            *("--executor-config", yaml.safe_dump(executor_config)),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    executor_inputs, cli_inputs = seen
    # what only a launched run has: the serialized step arguments and the process environment
    assert _differences(executor_inputs, cli_inputs) == {}
    assert (cli_inputs.compressed_step_args, cli_inputs.environ) == (STEP_ARGS_PLACEHOLDER, None)
    cli_job = yaml.safe_load(result.output)
    assert _with_step_args(cli_job, _step_args(executor_job)) == executor_job


def _differences(a: StepRenderInputs, b: StepRenderInputs) -> dict[str, Any]:
    ignored = {"compressed_step_args", "environ"}
    return {k: (v, getattr(b, k)) for k, v in vars(a).items() if k not in ignored and getattr(b, k) != v}


def _env(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = manifest["spec"]["template"]["spec"]["containers"][0]["env"]
    return env


def _step_args(manifest: dict[str, Any]) -> str:
    return str(next(e["value"] for e in _env(manifest) if e["name"] == COMPRESSED_STEP_ARGS_ENV))


def _with_step_args(manifest: dict[str, Any], value: str) -> dict[str, Any]:
    for item in _env(manifest):
        if item["name"] == COMPRESSED_STEP_ARGS_ENV:
            item["value"] = value
    return manifest


def test_the_shared_render_applies_allowlists_ttl_and_image_fallback(dagster_home: Path) -> None:
    ctx, executor_config = handler_context(dagster_home)
    inputs = step_render_inputs(ctx, executor_config=executor_config, environ={})
    manifest = step_pods.render_step(inputs).manifest
    spec = manifest["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    names = [item["name"] for item in container["env"]]
    assert "FROM_OP" in names and "DROPPED" not in names  # the launcher's env allowlist
    assert "FROM_EXECUTOR" in names
    assert spec["ttlSecondsAfterFinished"] == 600  # the executor's, not the launcher's 100
    assert container["image"] == "ghcr.io/example/fallback:1"  # the run's dagster/image tag
    assert container["resources"] == {"limits": {"cpu": "2"}}  # per_step_k8s_config[heavy]
    assert pod["nodeSelector"] == {"pool": "steps"} and pod["serviceAccountName"] == "dagster"
    assert manifest["metadata"]["namespace"] == "steps"


def test_a_step_under_our_executor_hands_its_executor_config_to_execute_k8s_job(dagster_home: Path) -> None:
    ctx, executor_config = handler_context(dagster_home)
    recon = ReconstructableJob.for_file(str(FIXTURE), "step_job")
    plan = create_execution_plan(recon)
    with scoped_job_context(plan, recon, {}, ctx.dagster_run, ctx.instance) as plan_context:
        step = plan.get_step_by_key("heavy")
        assert isinstance(step, ExecutionStep)
        step_context = plan_context.for_step(step)  # what the op's context holds
        assert k8s_step_executor_config(step_context) == executor_config
    origin = StepOrigin(
        run_id=RUN_ID,
        dagster_job="step_job",
        step_key="heavy",
        executor_config=k8s_step_executor_config(step_context),
        op_name=step_context.step.op_name,
    )
    call = parse_k8s_job_call({"image": "busybox"}, path="execute_k8s_job", environ={})
    manifest = render_k8s_job_call(call, origin, sequence=0, environ={}).manifest
    pod = manifest["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "steps"}  # step_k8s_config
    assert pod["containers"][0]["resources"] == {"limits": {"cpu": "2"}}  # per_step_k8s_config[heavy]
    assert manifest["metadata"]["namespace"] == "steps"  # the executor's job_namespace, as for the step pod


def test_other_executors_contribute_no_executor_layer() -> None:
    from dagster import job, op
    from dagster_k8s import k8s_job_executor as dagster_k8s_executor

    @op
    def noop() -> None:
        pass

    for executor_def in (dagster_k8s_executor, None):

        @job(executor_def=executor_def)
        def other() -> None:
            noop()

        resolved = ResolvedRunConfig.build(other, {})
        assert k8s_step_executor_config(SimpleNamespace(job_def=other, resolved_run_config=resolved)) is None


def test_the_step_executor_is_recognised_by_its_creation_functions_module() -> None:
    from dagster_ext.k8s import k8s_job_executor
    from dagster_ext.k8s.step_pods import STEP_EXECUTOR_MODULE

    assert k8s_job_executor.executor_creation_fn.__module__ == STEP_EXECUTOR_MODULE
