"""A Dagster job whose `k8s_job_op` runs `sleep 300`, executed in process; the test sends this
process SIGINT (what Dagster turns into an interrupt of the running op, as on run termination).

usage: python interrupted_run.py NAMESPACE KUBECONFIG HOME
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dagster import job  # noqa: E402

from dagster_ext.k8s import k8s_job_op  # noqa: E402
from tests.integration.k8s_job.harness import dagster_instance, op_config  # noqa: E402


@job
def long_external() -> None:
    k8s_job_op.alias("long")()


def main() -> None:
    namespace, kubeconfig, home = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    config = op_config(kubeconfig, command=["sleep", "300"], delete_failed_k8s_jobs=False)
    with dagster_instance(namespace, kubeconfig, home) as instance:
        result = long_external.execute_in_process(
            run_config={"ops": {"long": {"config": config}}}, instance=instance, raise_on_error=False
        )
        print(f"RUN SUCCESS={result.success}", flush=True)


if __name__ == "__main__":
    main()
