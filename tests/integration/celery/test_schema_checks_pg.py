"""On real PostgreSQL: Dagster reflects the runs table on every run lookup; the worker's instance
(tuned by `hold_connections`) does it at most once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import DagsterInstance
from dagster._core.test_utils import create_run_for_test
from sqlalchemy import event

from dagster_ext.celery.pooling import hold_connections

LOOKUPS = 5


def _instance(tmp_path: Path, postgres: Any, monkeypatch: pytest.MonkeyPatch) -> DagsterInstance:
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", postgres.password)
    home = tmp_path / "home"
    home.mkdir()
    config = {"storage": postgres.dagster_storage_config(), "telemetry": {"enabled": False}}
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return DagsterInstance.from_config(str(home))


def _catalogue_queries_per_lookups(instance: DagsterInstance) -> int:
    run_id = create_run_for_test(instance, job_name="schema_check_job").run_id
    engine = instance.run_storage._engine  # type: ignore[attr-defined]  # PostgresRunStorage's engine
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        for _ in range(LOOKUPS):
            found = instance.get_run_by_id(run_id)
            assert found is not None and found.run_id == run_id
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return sum("pg_catalog" in s for s in statements)


def test_dagster_reflects_on_every_lookup(
    tmp_path: Path, postgres: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = _instance(tmp_path, postgres, monkeypatch)
    try:
        assert _catalogue_queries_per_lookups(instance) >= LOOKUPS
    finally:
        instance.dispose()


def test_worker_instance_reflects_once(
    tmp_path: Path, postgres: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = _instance(tmp_path, postgres, monkeypatch)
    try:
        hold_connections(instance)
        instance.run_storage.has_run_stats_index_cols()  # the first answer still comes from the database
        assert _catalogue_queries_per_lookups(instance) == 0
    finally:
        instance.dispose()
