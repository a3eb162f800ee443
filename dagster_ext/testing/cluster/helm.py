"""The `helm` binary for the deployment tests, built from the Go module proxy and cached per version.

Users deploy with the official Dagster chart, so the tests render and install it with the real helm
rather than a reimplementation of its templating. Same cache and lock as the cluster binaries.
"""

from __future__ import annotations

from pathlib import Path

from dagster_ext.testing.cluster.gotools import GoTool, ensure_go_tool

HELM_VERSION = "v3.22.0"
HELM_ENV = "DAGSTER_EXT_HELM"
"""Environment variable naming a prebuilt helm executable; skips the cache and the build."""


def ensure_helm(version: str = HELM_VERSION) -> Path:
    """Return a helm executable of `version`, building it with `go install` when it is not cached."""
    return ensure_go_tool(
        GoTool(
            name="helm",
            package="helm.sh/helm/v3/cmd/helm",
            version=version,
            override_env=HELM_ENV,
            ldflags=f"-s -w -X helm.sh/helm/v3/internal/version.version={version}",
        )
    )
