"""Dagster's run launcher classes and the run worker's arguments (see the package docstring for why
they are gathered here). `ExecuteRunArgs` lives in Dagster's CLI module, the costliest import here."""

from dagster._cli.api import ExecuteRunArgs
from dagster._core.launcher import LaunchRunContext, ResumeRunContext, RunLauncher
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus
from dagster._grpc.types import ResumeRunArgs

__all__ = [
    "CheckRunHealthResult",
    "ExecuteRunArgs",
    "LaunchRunContext",
    "ResumeRunArgs",
    "ResumeRunContext",
    "RunLauncher",
    "WorkerStatus",
]
