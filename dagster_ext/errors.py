"""The one exception root of dagster-ext.

Every error we raise derives from `DagsterExtError`, so callers can catch ours without
catching Dagster's or the Kubernetes client's.
"""

from __future__ import annotations


class DagsterExtError(Exception):
    """Root of all dagster-ext errors."""


class ConfigError(DagsterExtError, ValueError):
    """User configuration is invalid; the message names the key path and what to do.

    Raised before any Kubernetes Job is created.
    """

    def __init__(self, message: str, *, path: str = "") -> None:
        self.path = path
        self.reason = message
        super().__init__(f"{path}: {message}" if path else message)
