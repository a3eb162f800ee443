"""`k8s_job_executor`: Dagster's step-delegating executor with our step handler.

The executor definition keeps dagster-k8s's name (`k8s`) and config keys, so replacing
`from dagster_k8s import k8s_job_executor` with `from dagster_ext.k8s import k8s_job_executor`
is the only change a job needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dagster import executor

from dagster_ext.dagster_compat.definitions import (
    ExecutionPlan,
    Executor,
    InitExecutorContext,
    PlanOrchestrationContext,
    RetryMode,
    multiple_process_executor_requirements,
)
from dagster_ext.dagster_compat.runs import DagsterEvent, DagsterRunStatus
from dagster_ext.dagster_compat.step_delegating import StepDelegatingExecutor, StepDependencyConfig
from dagster_ext.k8s.client import K8sGateway
from dagster_ext.k8s.step_executor.config import executor_config_schema
from dagster_ext.k8s.step_executor.handler import K8sStepHandler
from dagster_ext.k8s.step_pods import diagnosis_settings, step_connection


class K8sJobStepExecutor(StepDelegatingExecutor):
    """Releases watches and cleans up step K8s Jobs when the run's execution ends, however it ends."""

    def __init__(self, handler: K8sStepHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._handler = handler

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        succeeded = False
        try:
            yield from super().execute(plan_context, execution_plan)
            run = plan_context.instance.get_run_by_id(plan_context.run_id)
            succeeded = run is not None and run.status not in (
                DagsterRunStatus.CANCELING,
                DagsterRunStatus.CANCELED,
            )
        finally:
            self._handler.finish(run_id=plan_context.run_id, run_succeeded=succeeded)


@executor(
    name="k8s",
    config_schema=executor_config_schema(),
    requirements=multiple_process_executor_requirements(),
)
def k8s_job_executor(init_context: InitExecutorContext) -> Executor:
    """Run each step in its own Kubernetes Job; the step pod inherits the run pod's spec.

    Layers, later wins: run launcher config, code location container context, job-level
    `dagster-k8s/config` tags (`inherit_run_tags`), `step_k8s_config`, op/asset tags,
    `per_step_k8s_config[op name]`. Works with any run launcher.
    """
    config: dict[str, Any] = dict(init_context.executor_config)
    launcher = init_context.instance.run_launcher
    diagnosis = diagnosis_settings(config)
    handler = K8sStepHandler(
        executor_config=config,
        gateway=K8sGateway(step_connection(config, launcher)),
        diagnosis=diagnosis,
    )
    return K8sJobStepExecutor(
        handler,
        retries=RetryMode.from_config(config["retries"]),  # type: ignore[arg-type]
        max_concurrent=config.get("max_concurrent"),
        tag_concurrency_limits=config.get("tag_concurrency_limits"),
        should_verify_step=True,
        sleep_seconds=float(config.get("event_poll_seconds") or 0.25),
        check_step_health_interval_seconds=int(config.get("health_check_interval_seconds") or 1),
        step_dependency_config=StepDependencyConfig.from_config(config.get("step_dependency_config")),  # type: ignore[arg-type]
    )
