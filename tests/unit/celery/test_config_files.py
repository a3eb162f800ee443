"""The executor config file a Helm-deployed worker reads (`dagster-ext celery worker|status -y`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_ext.celery.config_files import executor_config_from_file as _executor_config
from dagster_ext.cli.celery import _without_password
from dagster_ext.errors import ConfigError


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "executor.yaml"
    path.write_text(text)
    return str(path)


def test_env_sources_are_read_from_the_environment(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "execution:\n  config:\n    broker: {env: BROKER}\n    default_queue: q\n"
        "    config_source: {x: {env: KEPT}}\n",
    )
    config = _executor_config(path, {"BROKER": "redis://redis:6379/0"})
    # Only the top-level StringSource keys are resolved, as Dagster does for the run worker.
    assert config == {
        "broker": "redis://redis:6379/0",
        "default_queue": "q",
        "config_source": {"x": {"env": "KEPT"}},
    }


def test_a_missing_variable_names_the_key_and_the_variable(tmp_path: Path) -> None:
    path = _write(tmp_path, "execution:\n  config:\n    broker: {env: DAGSTER_CELERY_BROKER_URL}\n")
    with pytest.raises(ConfigError) as raised:
        _executor_config(path, {})
    assert "DAGSTER_CELERY_BROKER_URL" in str(raised.value)
    assert "execution.config.broker" in str(raised.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@redis:6379/0", "redis://:***@redis:6379/0"),
        ("pyamqp://user:s3cret@rabbit//", "pyamqp://user:***@rabbit//"),
        ("redis://redis:6379/0", "redis://redis:6379/0"),
    ],
)
def test_status_never_shows_the_broker_password(url: str, shown: str) -> None:
    assert _without_password(url) == shown
