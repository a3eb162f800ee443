"""Why a container cannot start, in the words a real kubelet reports."""

from __future__ import annotations

from dagster_ext.errors import DagsterExtError


class KubeletError(DagsterExtError):
    """Root of the process kubelet's errors."""


class ContainerConfigError(KubeletError):
    """The container's env/config cannot be resolved (missing Secret, ConfigMap or key).

    Reported as waiting reason `CreateContainerConfigError`; the kubelet retries.
    """

    reason = "CreateContainerConfigError"


class ContainerStartError(KubeletError):
    """The container's process cannot be started (no command, executable not found).

    Reported as terminated reason `StartError` with exit code 128, like containerd.
    """

    reason = "StartError"
    exit_code = 128


class VolumeSetupError(KubeletError):
    """A volume cannot be materialised (missing Secret/ConfigMap, unsupported type).

    Reported as a `FailedMount` Event; the pod stays in ContainerCreating and the kubelet retries.
    """
