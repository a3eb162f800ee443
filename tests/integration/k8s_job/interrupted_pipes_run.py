"""A Pipes asset whose K8s Job runs `sleep 300`, materialized in process; the test sends this
process SIGINT (what Dagster turns into an interrupt of the running step, as on run termination).

usage: python interrupted_pipes_run.py NAMESPACE KUBECONFIG HOME
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dagster import AssetExecutionContext, asset, materialize  # noqa: E402

from dagster_ext.k8s import PipesK8sClient  # noqa: E402
from tests.integration.k8s_job.harness import dagster_instance  # noqa: E402


@asset
def long_pipes_asset(context: AssetExecutionContext, pipes_k8s_client: PipesK8sClient):
    return pipes_k8s_client.run(context=context, image="busybox", command=["sleep", "300"]).get_results()


def main() -> None:
    namespace, kubeconfig, home = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    client = PipesK8sClient(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    with dagster_instance(namespace, kubeconfig, home) as instance:
        result = materialize(
            [long_pipes_asset],
            resources={"pipes_k8s_client": client},
            instance=instance,
            raise_on_error=False,
        )
        print(f"RUN SUCCESS={result.success}", flush=True)


if __name__ == "__main__":
    main()
