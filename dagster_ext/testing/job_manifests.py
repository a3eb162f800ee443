"""Minimal Kubernetes Job manifests for cluster tests (plain dicts, as the API accepts them).

The image is not pulled on the local cluster (the process runs with the host's Python); on a real
cluster (kind) it is, so `$DAGSTER_EXT_TEST_IMAGE` names an image with Python and, for the in-cluster
RBAC test, the `kubernetes` package.
"""

from __future__ import annotations

import os
from typing import Any

TEST_IMAGE_ENV = "DAGSTER_EXT_TEST_IMAGE"
DEFAULT_TEST_IMAGE = "python:3.11-slim"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def test_image() -> str:
    return os.environ.get(TEST_IMAGE_ENV, DEFAULT_TEST_IMAGE)


test_image.__test__ = False  # type: ignore[attr-defined]  # not a pytest test despite its name


def job_manifest(
    name: str,
    command: list[str],
    *,
    image: str | None = None,
    container: dict[str, Any] | None = None,
    pod_spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Job that runs `command` once (no retries); `container` / `pod_spec` add or override fields."""
    main = {"name": "main", "image": image or test_image(), "command": command, **(container or {})}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 5,
                    "containers": [main],
                    **(pod_spec or {}),
                }
            },
        },
    }
