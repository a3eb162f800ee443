"""Minimal Kubernetes Job manifests for cluster tests (plain dicts, as the API accepts them).

The default image is the user-code image (Python, dagster, the `kubernetes` package), which the local
cluster's registry serves and `dagster-ext image build --archive` exports for kind;
`$DAGSTER_EXT_TEST_IMAGE` names another image with Python and the `kubernetes` package.
"""

from __future__ import annotations

import os
from typing import Any

from dagster_ext.testing.images.catalog import USER_CODE_IMAGE

TEST_IMAGE_ENV = "DAGSTER_EXT_TEST_IMAGE"
DEFAULT_TEST_IMAGE = USER_CODE_IMAGE
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
