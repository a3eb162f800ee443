"""pytest fixtures for real services and Dagster deployments (loaded by `pytest_plugin`).

`postgres` and `redis` are session-scoped private servers; `dagster_deployment` builds a
deployment (fresh database, code location server, our launcher) inside the test's namespace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from dagster_ext.testing.services import PostgresServer, RedisServer, postgres_server, redis_server


def _node_network(config: pytest.Config) -> None:
    """With the local node, servers must listen on its bridge address too: create it first."""
    from dagster_ext.testing.pytest_plugin import uses_local_node

    if uses_local_node(config):
        from dagster_ext.testing.node.network import ensure_bridge

        ensure_bridge()


@pytest.fixture(scope="session")
def postgres(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    _node_network(request.config)
    with postgres_server() as server:
        yield server


@pytest.fixture
def redis(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A fresh Redis per test: queues and claims never leak between tests."""
    _node_network(request.config)
    with redis_server() as server:
        yield server


@pytest.fixture
def dagster_deployment(
    postgres: PostgresServer, k8s_cluster: Any, k8s_namespace: str
) -> Iterator[Callable[..., Any]]:
    """A factory: `dagster_deployment(location=CodeLocation(...), daemon=True, ...)`."""
    from dagster_ext.testing.deployment import dagster_deployment as make

    with ExitStack() as stack:

        def factory(**kwargs: Any) -> Any:
            return stack.enter_context(
                make(
                    postgres=postgres,
                    namespace=k8s_namespace,
                    kubeconfig_path=str(k8s_cluster.kubeconfig_path),
                    core_v1=k8s_cluster.core_v1,
                    rbac_v1=k8s_cluster.rbac_v1,
                    **kwargs,
                )
            )

        yield factory
