"""Compute-log capture in the warm worker without four process spawns per step.

Dagster's `LocalComputeLogManager.capture_logs` mirrors stdout and stderr to the step's log files:
for each stream it starts `tail -F` and a Python watcher process, redirects the stream's file
descriptor to the file, and waits for both processes at the end. In a Celery worker the redirect
never happens: Celery replaces `sys.stdout`/`sys.stderr` with a logging proxy that has no file
descriptor (the step's prints go to the worker log), and Dagster then skips the redirect, but it
still starts and waits for the four processes. The profile of a warm worker (bench/celery_profile.py)
showed that as the largest cost of a no-op step after the event writes (~50 ms of ~170 ms).

`WorkerComputeLogManager` is the same manager, same config and same files; only when neither stream
has a file descriptor (so Dagster would capture nothing) does it skip the processes, creating the
same (empty) files and the same completion marker. With real file descriptors (a worker started with
`worker_redirect_stdouts: false`) it captures exactly as Dagster does. Other compute log managers
(S3, GCS, ...) are left alone.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

from dagster_ext.dagster_compat.logs import (
    IO_TYPE_EXTENSION,
    LOCAL_COMPUTE_LOG_MANAGER_MODULES,
    CapturedLogContext,
    ComputeIOType,
    LocalComputeLogManager,
    ensure_file,
    touch_file,
)
from dagster_ext.dagster_compat.runs import ConfigurableClassData, InstanceRef


def _has_fd(stream: TextIO | Any) -> bool:
    try:
        return isinstance(stream.fileno(), int)
    except Exception:  # a proxy without fileno, or io.UnsupportedOperation
        return False


class WorkerComputeLogManager(LocalComputeLogManager):
    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> WorkerComputeLogManager:
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def capture_logs(self, log_key: Sequence[str]) -> Iterator[CapturedLogContext]:
        if _has_fd(sys.stdout) or _has_fd(sys.stderr):
            with super().capture_logs(log_key) as context:
                yield context
            return
        for io_type in (ComputeIOType.STDOUT, ComputeIOType.STDERR):
            ensure_file(self.get_captured_local_path(log_key, IO_TYPE_EXTENSION[io_type]))
        yield CapturedLogContext(log_key)
        touch_file(self.complete_artifact_path(log_key))


def with_worker_log_capture(ref: InstanceRef) -> InstanceRef:
    """The instance ref with `WorkerComputeLogManager` in place of Dagster's local one (same config)."""
    data = ref.compute_logs_data
    if (
        data.module_name not in LOCAL_COMPUTE_LOG_MANAGER_MODULES
        or data.class_name != "LocalComputeLogManager"
    ):
        return ref
    worker_data = ConfigurableClassData(__name__, WorkerComputeLogManager.__name__, data.config_yaml)
    return ref._replace(compute_logs_data=worker_data)
