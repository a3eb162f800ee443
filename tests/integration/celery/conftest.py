from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.celery.harness import CeleryHarness, make_home, use_k8s_launcher


@pytest.fixture
def celery_harness(tmp_path: Path, postgres: Any) -> Iterator[Callable[..., CeleryHarness]]:
    """A factory: `celery_harness(executor_config)` -> harness on a PostgreSQL-backed DAGSTER_HOME."""
    made: list[CeleryHarness] = []

    def factory(executor_config: dict[str, Any], *, sqlite: bool = False) -> CeleryHarness:
        home, env = make_home(tmp_path, postgres=None if sqlite else postgres)
        harness = CeleryHarness(home=home, executor_config=executor_config, env=env)
        made.append(harness)
        return harness

    yield factory
    for harness in made:
        harness.stop()


@pytest.fixture
def k8s_mode_harness(
    celery_harness: Callable[..., CeleryHarness], redis: Any, postgres: Any, k8s_cluster: Any,
    k8s_namespace: str,
) -> Callable[..., CeleryHarness]:  # fmt: skip
    """A factory: `k8s_mode_harness(extra)` -> a `step_mode: k8s_job` harness on Redis whose runs
    go through our K8s run launcher into the test namespace; `extra` adds executor config."""

    def make(extra: dict[str, Any] | None = None) -> CeleryHarness:
        h = celery_harness({"broker": redis.url, "step_mode": "k8s_job", **(extra or {})})
        use_k8s_launcher(h, k8s_cluster=k8s_cluster, namespace=k8s_namespace, pg_password=postgres.password)
        return h

    return make
