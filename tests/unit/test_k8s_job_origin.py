"""`step_origin` reads what the calling step contributes from op and asset contexts alike:
run id, job, step key, the job-level and the op's `dagster-k8s/config` tags."""

# No `from __future__ import annotations`: Dagster checks the context annotations at runtime.
from typing import Any

from dagster import AssetExecutionContext, OpExecutionContext, asset, job, materialize, op

from dagster_ext.k8s.k8s_job.rendering import StepOrigin, step_origin

OP_TAG = {"dagster-k8s/config": {"container_config": {"env": [{"name": "A", "value": "1"}]}}}
JOB_TAG = {"dagster-k8s/config": {"pod_spec_config": {"nodeSelector": {"disk": "ssd"}}}}
seen: dict[str, StepOrigin] = {}


@op(tags=OP_TAG)
def probe(context: OpExecutionContext) -> None:
    seen["op"] = step_origin(context)


@job(tags=JOB_TAG)
def probed() -> None:
    probe()


@asset(op_tags=OP_TAG)
def probed_asset(context: AssetExecutionContext) -> None:
    seen["asset"] = step_origin(context)


def tag_of(tags: Any) -> Any:
    import json

    value = tags["dagster-k8s/config"]
    return json.loads(value) if isinstance(value, str) else value


def test_step_origin_from_an_op_context() -> None:
    result = probed.execute_in_process()
    origin = seen["op"]
    assert (origin.run_id, origin.dagster_job, origin.step_key) == (result.run_id, "probed", "probe")
    assert origin.attempt == 0
    assert tag_of(origin.run_tags) == JOB_TAG["dagster-k8s/config"]
    assert tag_of(origin.op_tags) == OP_TAG["dagster-k8s/config"]
    assert origin.launcher_config is None  # the default run launcher is not a K8s one
    assert origin.executor_config is None  # nor is the in-process executor our K8s step executor
    assert origin.op_name == "probe"


def test_step_origin_from_an_asset_context() -> None:
    materialize([probed_asset])
    origin = seen["asset"]
    assert origin.step_key == "probed_asset"
    assert tag_of(origin.op_tags) == OP_TAG["dagster-k8s/config"]
