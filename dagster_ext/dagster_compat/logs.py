"""Dagster's compute log capture, which the Celery worker replaces for slots without file
descriptors (see the package docstring for why these names are gathered here)."""

from dagster._core.storage.compute_log_manager import CapturedLogContext, ComputeIOType
from dagster._core.storage.local_compute_log_manager import IO_TYPE_EXTENSION, LocalComputeLogManager
from dagster._utils import ensure_file, touch_file

# The module names an instance's `compute_logs` config may give for LocalComputeLogManager
LOCAL_COMPUTE_LOG_MANAGER_MODULES = (
    "dagster._core.storage.local_compute_log_manager",
    "dagster.core.storage.local_compute_log_manager",
)

__all__ = [
    "IO_TYPE_EXTENSION",
    "LOCAL_COMPUTE_LOG_MANAGER_MODULES",
    "CapturedLogContext",
    "ComputeIOType",
    "LocalComputeLogManager",
    "ensure_file",
    "touch_file",
]
