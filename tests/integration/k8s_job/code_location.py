"""A code location whose job runs a `k8s_job_op`, for the test that launches it into a run pod."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dagster import Definitions, job  # noqa: E402

from dagster_ext.k8s import k8s_job_op  # noqa: E402


@job(tags={"dagster-k8s/config": {"container_config": {"env": [{"name": "FROM_JOB", "value": "job-tag"}]}}})
def external_from_run_pod() -> None:
    k8s_job_op.alias("external")()


defs = Definitions(jobs=[external_from_run_pod])
