"""`dagster-ext render` shows the step K8s Job the K8s step executor creates: the executor's step
handler creates the Job on the real API server, the CLI renders the same step from the same
files, and every field of the rendered manifest is in the created Job with the same value. What
the created Job has beyond it is listed: server-set ids and defaults, and our creation token."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from dagster import DagsterInstance
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.execution.api import create_execution_plan
from dagster._core.execution.context.system import PlanData, PlanOrchestrationContext
from dagster._core.execution.context_creation_job import create_context_free_log_manager
from dagster._core.execution.plan.step import ExecutionStep
from dagster._core.execution.retries import RetryMode
from dagster._core.executor.in_process import InProcessExecutor
from dagster._core.executor.step_delegating.step_handler.base import StepHandlerContext
from dagster._core.system_config.objects import ResolvedRunConfig
from dagster._grpc.types import ExecuteStepArgs

from dagster_ext.cli import main
from dagster_ext.k8s.client import ConnectionSettings, K8sGateway
from dagster_ext.k8s.spec import COMPRESSED_STEP_ARGS_ENV
from dagster_ext.k8s.status import DiagnosisSettings
from dagster_ext.k8s.step_executor.handler import K8sStepHandler
from dagster_ext.testing.pytest_plugin import K8sCluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

LOCATION = Path(__file__).resolve().parent / "step_location.py"
RUN_ID = "5d0c9a8b-7e6f-4a5b-9c3d-2e1f0a9b8c7d"
# present in the created Job only: ids and bookkeeping the API server sets, its defaults for
# fields we leave unset, and the creation token our gateway adds to make retried creates idempotent
SERVER_SET = [
    r"metadata\.(uid|resourceVersion|creationTimestamp|generation|managedFields.*)",
    r"metadata\.annotations\[dagster-ext\.io/creation-token\]",
    r"spec\.(selector.*|completions|parallelism|completionMode|suspend|podReplacementPolicy|manualSelector)",
    r"spec\.template\.metadata\.labels\[(controller-uid|job-name|batch\.kubernetes\.io/.*)\]",
    r"spec\.template\.spec\.(dnsPolicy|schedulerName|securityContext|terminationGracePeriodSeconds)",
    r"spec\.template\.spec\.containers\[0\]\.(terminationMessagePath|terminationMessagePolicy)",
    r"spec\.template\.spec\.containers\[0\]\.env\[\d+\]\.valueFrom\.fieldRef\.apiVersion",
    r"spec\.template\.spec\.serviceAccount",  # the deprecated alias, copied from serviceAccountName
    r"spec\.template\.spec\.tolerations\[0\]\.(effect|value)",
    r"status.*",
]


def leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        found: dict[str, Any] = {}
        for key, item in value.items():
            child = f"{path}.{key}" if re.fullmatch(r"\w+", key) else f"{path}[{key}]"
            found.update(leaves(item, child.lstrip(".")))
        return found
    if isinstance(value, list) and value:
        found = {}
        for index, item in enumerate(value):
            found.update(leaves(item, f"{path}[{index}]"))
        return found
    return {path: value}


@pytest.fixture
def setup(tmp_path: Path, k8s_cluster: K8sCluster, k8s_namespace: str) -> dict[str, Any]:
    launcher = {
        "module": "dagster_ext.k8s",
        "class": "K8sRunLauncher",
        "config": {
            "job_namespace": k8s_namespace,
            "load_incluster_config": False,
            "kubeconfig_file": str(k8s_cluster.kubeconfig_path),
            "service_account_name": "default",
            "only_allow_user_defined_env_vars": ["FROM_OP"],
            "env_vars": ["FROM_LAUNCHER=1"],
        },
    }
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump({"run_launcher": launcher}))
    executor = {
        "job_namespace": k8s_namespace,
        "job_image": "busybox:1.36",
        "k8s_job_ttl_seconds": 600,
        "enable_owner_references": False,
        "load_incluster_config": False,
        "kubeconfig_file": str(k8s_cluster.kubeconfig_path),
        "step_k8s_config": {"pod_spec_config": {"nodeSelector": {"pool": "steps"}}},
        "per_step_k8s_config": {"heavy": {"container_config": {"env": [{"name": "PER_STEP", "value": "1"}]}}},
    }
    return {"home": tmp_path, "executor": executor, "namespace": k8s_namespace}


def created_step_job(
    home: Path, executor: dict[str, Any], cluster: K8sCluster, namespace: str
) -> dict[str, Any]:
    recon = ReconstructableJob.for_file(str(LOCATION), "step_job")
    job_def = recon.get_definition()
    run_config = {"execution": {"config": executor}}
    instance = DagsterInstance.from_config(str(home))
    run = instance.create_run_for_job(job_def, run_id=RUN_ID, run_config=run_config, tags=job_def.tags)
    plan = create_execution_plan(recon, run_config=run_config)
    config = dict(ResolvedRunConfig.build(job_def, run_config).execution.execution_engine_config)
    plan_context = PlanOrchestrationContext(
        plan_data=PlanData(job=recon, dagster_run=run, instance=instance, execution_plan=plan),
        log_manager=create_context_free_log_manager(instance, run),
        executor=InProcessExecutor(retries=RetryMode.DISABLED, marker_to_close=None),
        output_capture=None,
    )
    steps = [step for step in plan.steps if isinstance(step, ExecutionStep)]
    args = ExecuteStepArgs(recon.get_python_origin(), run.run_id, ["heavy"], instance_ref=None)
    ctx = StepHandlerContext(instance, plan_context, steps, args, run)
    handler = K8sStepHandler(
        executor_config=config,
        gateway=K8sGateway(
            ConnectionSettings(load_incluster_config=False, kubeconfig_file=str(cluster.kubeconfig_path))
        ),
        diagnosis=DiagnosisSettings.from_config(config),
        environ={},
    )
    list(handler.launch_step(ctx))
    name = handler.render(ctx).name
    handler.finish(run_id=RUN_ID, run_succeeded=True)  # waits for the create, stops watching
    job = cluster.batch_v1.read_namespaced_job(name, namespace)
    created: dict[str, Any] = cluster.api_client().sanitize_for_serialization(job)
    return created


def test_render_shows_the_step_job_the_executor_creates(
    setup: dict[str, Any], k8s_cluster: K8sCluster
) -> None:
    created = created_step_job(setup["home"], setup["executor"], k8s_cluster, setup["namespace"])
    result = CliRunner().invoke(
        main,
        [
            *("render", "-f", str(LOCATION), "--job", "step_job", "--show", "steps", "--plain"),
            *("--run-id", RUN_ID, "--instance", str(setup["home"] / "dagster.yaml")),
            *("--executor-config", yaml.safe_dump(setup["executor"])),
        ],
        env={"DAGSTER_CURRENT_IMAGE": None, "DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT": None},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    rendered = leaves(yaml.safe_load(result.output))
    actual = leaves(created)
    args_path = next(
        path.replace(".name", ".value")
        for path, value in rendered.items()
        if value == COMPRESSED_STEP_ARGS_ENV
    )
    rendered[args_path] = actual[args_path]  # serialized at launch; the CLI shows a placeholder
    assert {path: actual.get(path, "<missing>") for path in rendered} == rendered
    extra = [path for path in actual if path not in rendered]
    unexplained = [path for path in extra if not any(re.fullmatch(rule, path) for rule in SERVER_SET)]
    assert unexplained == [], unexplained
