"""The worker's compute-log capture: Dagster's files and completion marker, and no tail/watcher
processes when stdout/stderr have no file descriptor (Celery's logging proxy)."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster._core.storage.compute_log_manager import ComputeIOType
from dagster._core.storage.local_compute_log_manager import IO_TYPE_EXTENSION

from dagster_ext.celery.worker.log_capture import WorkerComputeLogManager, with_worker_log_capture


class _ProxyWithoutFd(io.StringIO):
    """Like Celery's LoggingProxy: a text stream without a file descriptor."""

    def fileno(self) -> int:
        raise io.UnsupportedOperation("no fd")


def _children() -> list[str]:
    found: list[str] = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        found += (task / "children").read_text().split()
    return found


def _instance(tmp_path: Path) -> DagsterInstance:
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return DagsterInstance.from_config(str(tmp_path))


def test_ref_rewrite_swaps_only_the_local_manager(tmp_path: Path) -> None:
    instance = _instance(tmp_path)
    ref = instance.get_ref()
    worker = DagsterInstance.from_ref(with_worker_log_capture(ref))
    assert type(worker.compute_log_manager) is WorkerComputeLogManager
    assert worker.compute_log_manager._base_dir == instance.compute_log_manager._base_dir  # type: ignore[attr-defined]
    noop = ref._replace(
        compute_logs_data=ref.compute_logs_data._replace(
            module_name="dagster._core.storage.noop_compute_log_manager", class_name="NoOpComputeLogManager"
        )
    )
    assert with_worker_log_capture(noop) is noop


def test_without_fds_no_process_is_started_and_files_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = WorkerComputeLogManager(base_dir=str(tmp_path / "logs"))
    monkeypatch.setattr(sys, "stdout", _ProxyWithoutFd())
    monkeypatch.setattr(sys, "stderr", _ProxyWithoutFd())
    before = set(_children())
    with manager.capture_logs(["run", "compute_logs", "abc"]):
        assert set(_children()) == before
    for io_type in (ComputeIOType.STDOUT, ComputeIOType.STDERR):
        path = manager.get_captured_local_path(["run", "compute_logs", "abc"], IO_TYPE_EXTENSION[io_type])
        assert Path(path).exists()
    assert manager.is_capture_complete(["run", "compute_logs", "abc"])


def test_with_fds_it_captures_like_dagster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manager = WorkerComputeLogManager(base_dir=str(tmp_path / "logs"))
    with open(tmp_path / "stdout", "w+") as out:
        monkeypatch.setattr(sys, "stdout", out)
        with manager.capture_logs(["run", "compute_logs", "def"]):
            assert _children(), "Dagster's capture mirrors through tail processes"
            print("captured line", flush=True)
    log_key = ["run", "compute_logs", "def"]
    assert "captured line" in Path(manager.get_captured_local_path(log_key, "out")).read_text()
    assert manager.is_capture_complete(log_key)
