"""Errors of the local test cluster, all under `DagsterExtError`.

A start-up failure carries the tail of the failing component's log, because the log file lives in a
temp dir that is removed when the cluster shuts down: the message is the only place left to read it.
"""

from __future__ import annotations

from pathlib import Path

from dagster_ext.errors import DagsterExtError


class ClusterError(DagsterExtError):
    """The local cluster could not be built, started, reached or stopped."""


class BinaryBuildError(ClusterError):
    """kube-apiserver, kube-controller-manager or etcd could not be built from Go modules."""


class ComponentStartError(ClusterError):
    """One control-plane component (etcd, apiserver, ...) failed to start or become ready."""

    def __init__(self, component: str, reason: str, *, log_path: Path | None = None) -> None:
        self.component = component
        self.reason = reason
        self.log_path = log_path
        tail = tail_of(log_path) if log_path is not None else ""
        message = f"{component}: {reason}"
        if tail:
            message += f"\n--- last lines of {log_path} ---\n{tail}"
        super().__init__(message)


def tail_of(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file, or "" when it cannot be read."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class NodeSetupError(ClusterError):
    """A node prerequisite is missing or could not be configured; the message says what to install."""


class ImageBuildError(ClusterError):
    """A test image could not be built or pushed to the node's registry."""
