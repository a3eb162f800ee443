"""Install the shipped charts for one shape, with only what this test machine needs on top.

The values are the shipped files (`helm-values/<shape>.yaml` for the official chart, the
dagster-ext chart's defaults) plus overrides that no user would write: the local registry's
images, this machine's PostgreSQL and Redis (given Service names in the test's namespace), and a
host directory as artifact storage so the test can read the result from this machine. The
dagster-ext chart goes first, as docs/deploy.md says: its ServiceAccount and Role are what every
pod of both releases runs under.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dagster_ext.testing.images.catalog import CHART_INIT_IMAGE, USER_CODE_IMAGE, docker_reference
from dagster_ext.testing.services import PostgresServer

from .conftest import OUR_CHART, RELEASE, VALUES_DIR

OUR_RELEASE = "dagster-ext"
SERVICE_ACCOUNT = "dagster-ext"  # the shipped chart's default, named in every shipped values file
LOCATION = "user-code"
ARTIFACTS = "/opt/dagster/artifacts"
BROKER_SECRET = "dagster-ext-celery-broker"
BROKER_ENV = "DAGSTER_CELERY_BROKER_URL"
INSTALL_TIMEOUT_S = 180


@dataclass(frozen=True)
class Backends:
    """Where the release's pods find this machine's servers, and where run outputs land."""

    pg_host: str
    db_name: str
    pg_password: str
    artifacts: Path
    broker_url: str | None = None  # the Celery shape only


WORKER_REPLICAS = 2
"""Replicas of the Celery shape's worker Deployment (both share the artifacts volume)."""


def image(reference: str) -> dict[str, str]:
    repository, _, tag = docker_reference(reference).rpartition(":")
    return {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"}


def shipped(shape: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((VALUES_DIR / f"{shape}.yaml").read_text())
    return loaded


def _artifacts_volume(backends: Backends) -> dict[str, Any]:
    return {"name": "artifacts", "hostPath": {"path": str(backends.artifacts), "type": "Directory"}}


def dagster_overrides(shape: str, backends: Backends) -> dict[str, Any]:
    """Test-only values layered over `helm-values/<shape>.yaml` (helm merges maps, replaces lists)."""
    code = image(USER_CODE_IMAGE)
    # The list is replaced as a whole: keep the shipped entry and change only image and code.
    location = {**shipped(shape)["dagster-user-deployments"]["deployments"][0]}
    location.update(name=LOCATION, image=code, dagsterApiGrpcArgs=["-m", "examples.definitions"])
    launcher = {
        "volumes": [_artifacts_volume(backends)],
        "volume_mounts": [{"name": "artifacts", "mountPath": ARTIFACTS}],
    }
    return {
        # The user-code image holds this environment's packages, dagster-webserver among them
        # (the test extra): the chart's webserver runs from it and must become Ready.
        "dagsterWebserver": {"image": code, "replicaCount": 1},
        "dagsterDaemon": {"image": code},
        "runLauncher": {"config": {"customRunLauncher": {"config": launcher}}},
        "postgresql": {
            "image": image(CHART_INIT_IMAGE),  # the chart's init container runs pg_isready
            "postgresqlHost": backends.pg_host,
            "postgresqlUsername": "postgres",
            "postgresqlPassword": backends.pg_password,
            "postgresqlDatabase": backends.db_name,
        },
        "busybox": {"image": image(CHART_INIT_IMAGE)},
        "dagster-user-deployments": {"deployments": [location]},
        "pipelineRun": {"image": code},
        "additionalInstanceConfig": {
            "local_artifact_storage": {
                "module": "dagster._core.storage.root",
                "class": "LocalArtifactStorage",
                "config": {"base_dir": ARTIFACTS},
            }
        },
    }


def ours_overrides(shape: str, backends: Backends) -> dict[str, Any]:
    """Test-only values over the dagster-ext chart's defaults."""
    code = image(USER_CODE_IMAGE)
    values: dict[str, Any] = {
        "dagster": {"releaseName": RELEASE},
        "image": {"repository": code["repository"], "tag": code["tag"], "pullPolicy": "IfNotPresent"},
    }
    if shape == "celery":
        values["celery"] = {
            "enabled": True,
            # Steps write their outputs where the test reads them.
            "volumes": [_artifacts_volume(backends)],
            "volumeMounts": [{"name": "artifacts", "mountPath": ARTIFACTS}],
            # Two warm workers sharing the artifacts volume, one slot each: the machine has two cores.
            "workers": [{"name": "default", "queues": ["dagster"], "slots": 1, "replicas": WORKER_REPLICAS}],
        }
    return values


def helm_run(helm: Path, *args: str, kubeconfig: Path, timeout_s: float = INSTALL_TIMEOUT_S) -> str:
    argv = [str(helm), "--kubeconfig", str(kubeconfig), *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    assert result.returncode == 0, f"helm {args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def create_database(postgres: PostgresServer) -> str:
    import psycopg2

    name = f"e2e_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(postgres.url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return name


def create_broker_secret(core_v1: Any, namespace: str, broker_url: str) -> None:
    """The user's step 1 of the Celery shape: the broker URL (it holds a password) in a Secret."""
    core_v1.create_namespaced_secret(
        namespace, {"metadata": {"name": BROKER_SECRET}, "stringData": {BROKER_ENV: broker_url}}
    )


@contextmanager
def installed_releases(
    helm: Path,
    dagster_chart: Path,
    *,
    shape: str,
    namespace: str,
    backends: Backends,
    kubeconfig: Path,
    workdir: Path,
) -> Iterator[None]:
    """`helm install` the dagster-ext chart, then the official one; uninstalled in reverse."""
    ours = workdir / "dagster-ext-test.yaml"
    ours.write_text(yaml.safe_dump(ours_overrides(shape, backends)))
    theirs = workdir / "dagster-test.yaml"
    theirs.write_text(yaml.safe_dump(dagster_overrides(shape, backends)))
    ns = ["-n", namespace]
    helm_run(helm, "install", OUR_RELEASE, str(OUR_CHART), *ns, "-f", str(ours), kubeconfig=kubeconfig)
    try:
        shape_values = str(VALUES_DIR / f"{shape}.yaml")
        args = ["install", RELEASE, str(dagster_chart), *ns, "-f", shape_values, "-f", str(theirs)]
        helm_run(helm, *args, kubeconfig=kubeconfig)
        try:
            yield
        finally:
            helm_run(helm, "uninstall", RELEASE, *ns, "--wait", kubeconfig=kubeconfig)
    finally:
        helm_run(helm, "uninstall", OUR_RELEASE, *ns, "--wait", kubeconfig=kubeconfig)
