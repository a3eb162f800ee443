"""Dagster's private marker that lets a Pipes client be an asset's parameter (see the package
docstring for why private names are gathered here). `dagster_k8s.PipesK8sClient` carries it, so an
asset written as `def my_asset(context, pipes_k8s_client: PipesK8sClient)` resolves the client as a
resource; ours must carry it too for the import swap to be the only change."""

from dagster._core.definitions.resource_annotation import TreatAsResourceParam

__all__ = ["TreatAsResourceParam"]
