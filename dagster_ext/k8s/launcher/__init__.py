"""The K8s run launcher (`module: dagster_ext.k8s`, `class: K8sRunLauncher`)."""

from dagster_ext.k8s.launcher.run_launcher import K8sRunLauncher

__all__ = ["K8sRunLauncher"]
