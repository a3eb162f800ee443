"""A code location for the render-vs-created-Job test: one op with job and op tags under our K8s
step executor (configured per test through the run config, so the namespace is the test's)."""

from dagster import Definitions, job, op

from dagster_ext.k8s import k8s_job_executor

OP_ENV = [{"name": "FROM_OP", "value": "1"}, {"name": "DROPPED", "value": "x"}]


@op(tags={"dagster-k8s/config": {"container_config": {"env": OP_ENV, "resources": {"limits": {"cpu": "1"}}}}})
def heavy() -> None:
    pass


@job(
    executor_def=k8s_job_executor,
    tags={
        "dagster-k8s/config": {"pod_spec_config": {"tolerations": [{"key": "batch", "operator": "Exists"}]}}
    },
)
def step_job() -> None:
    heavy()


defs = Definitions(jobs=[step_job])
