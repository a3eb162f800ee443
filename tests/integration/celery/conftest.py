from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.celery.harness import CeleryHarness, make_home


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
