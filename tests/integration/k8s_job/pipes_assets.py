"""A Pipes asset written as a user of `dagster_k8s.PipesK8sClient` writes one: only the import differs."""

from dagster import AssetCheckSpec, AssetExecutionContext, Definitions, asset, define_asset_job

from dagster_ext.k8s import PipesK8sClient  # was: from dagster_k8s import PipesK8sClient
from dagster_ext.testing.images.catalog import USER_CODE_IMAGE
from dagster_ext.testing.images.user_code import APP

EXTERNAL_SCRIPT = f"{APP}/tests/integration/k8s_job/pipes_external.py"


ASSET_TAG = {
    "dagster-k8s/config": {"container_config": {"env": [{"name": "FROM_ASSET_TAG", "value": "tag"}]}}
}


@asset(check_specs=[AssetCheckSpec("total_is_positive", asset="pipes_total")], op_tags=ASSET_TAG)
def pipes_total(context: AssetExecutionContext, pipes_k8s_client: PipesK8sClient):
    return pipes_k8s_client.run(
        context=context,
        image=USER_CODE_IMAGE,
        command=["python", EXTERNAL_SCRIPT],
        env={"GREETING": "hello"},
        base_pod_meta={"labels": {"team": "data"}},
    ).get_results()


def pipes_definitions(client: PipesK8sClient) -> Definitions:
    return Definitions(
        assets=[pipes_total],
        jobs=[define_asset_job("pipes_total_job", selection=[pipes_total])],
        resources={"pipes_k8s_client": client},
    )
