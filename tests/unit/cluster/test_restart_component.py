"""`LocalCluster.restart_component` refuses a component the cluster does not run, before stopping
anything (a typo in a fault test must not silently skip the fault)."""

from __future__ import annotations

import pytest

from dagster_ext.testing.cluster import ClusterError, LocalCluster


@pytest.mark.parametrize("name", ["kube-apiserver", "no-such-component"])
def test_a_cluster_that_runs_no_such_component_refuses_to_restart_it(name: str) -> None:
    with pytest.raises(ClusterError, match="no component named"):
        LocalCluster(with_node=False).restart_component(name)
