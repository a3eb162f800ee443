"""Run one job of `jobs.py` with the instance at $DAGSTER_HOME; print a JSON summary last.

Usage: python run_job.py JOB_NAME RUN_CONFIG_JSON [TAGS_JSON]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dagster import DagsterInstance, execute_job
from dagster._core.definitions.reconstruct import ReconstructableRepository


def main() -> None:
    job_name, run_config = sys.argv[1], json.loads(sys.argv[2])
    tags = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    # by module name: step pods (k8s_job mode) load it from the user-code image, at another path
    root = str(Path(__file__).resolve().parents[3])
    repo = ReconstructableRepository.for_module(
        "tests.integration.celery.jobs", "defs", working_directory=root
    )
    recon = repo.get_reconstructable_job(job_name)
    with DagsterInstance.get() as instance:
        with execute_job(
            recon, instance=instance, run_config=run_config, tags=tags, raise_on_error=False
        ) as result:
            summary = {"run_id": result.run_id, "success": result.success}
            if result.success and job_name == "process_numbers":
                summary["result"] = result.output_for_node("sum_two_sums")
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
