"""End to end: `helm install` of the official Dagster chart with dagster-ext, on the real node.

The chart runs unchanged: webserver, daemon and code location from the user-code image, our launcher
as its CustomRunLauncher, PostgreSQL outside the chart (this machine's test server, given a Service
name in the release's namespace). The seed's job is submitted through the instance from inside the
daemon's pod (`dagster job launch` with the chart's workspace), so the daemon's queued run
coordinator dequeues it and our launcher starts the `dagster-run-…` K8s Job. The result, 55, is read
from the run's outputs, which the run pod writes to a host directory it mounts.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dagster_ext.testing.host_services import expose_host_port
from dagster_ext.testing.images.catalog import CHART_INIT_IMAGE, USER_CODE_IMAGE
from dagster_ext.testing.pytest_plugin import K8sCluster
from dagster_ext.testing.services import PostgresServer
from dagster_ext.testing.waiting import wait_for_named

pytestmark = [pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[3]
CHART_ENV = "DAGSTER_HELM_CHART"
SHARED_CHART = REPO_ROOT.parent / "shared" / "charts" / "dagster"
SCHEMA_HOST = "https://kubernetesjsonschema.dev/v1.18.0/_definitions.json"
RELEASE = "orchestra"  # not `dagster`: nothing may depend on the release name
FULLNAME = f"{RELEASE}-dagster"
LOCATION = "user-code"
ARTIFACTS = "/opt/dagster/artifacts"
READY_TIMEOUT_S = 300
RUN_TIMEOUT_S = 420
WEBSERVER_IN_IMAGE = importlib.util.find_spec("dagster_webserver") is not None
"""The user-code image holds this environment's packages; without dagster-webserver the chart's
webserver cannot start, so it is scaled to zero (the run path does not need it)."""


def _image(reference: str) -> dict[str, str]:
    repository, _, tag = reference.rpartition(":")
    return {"repository": f"docker.io/{repository}", "tag": tag, "pullPolicy": "IfNotPresent"}


def _chart_dir() -> Path:
    given = os.environ.get(CHART_ENV)
    chart = Path(given) if given else SHARED_CHART
    if not (chart / "Chart.yaml").is_file():
        where = f"${CHART_ENV}={given}" if given else str(SHARED_CHART)
        pytest.skip(f"the official Dagster chart is not at {where}: set ${CHART_ENV} to install it")
    return chart


def _offline_copy(chart: Path, workdir: Path) -> Path:
    """The chart with its Kubernetes object schemas (web references) replaced by empty ones: helm
    installs it without network; the values are validated against them by the rendering tests."""
    copy = workdir / "dagster"
    shutil.copytree(chart, copy)
    for schema in copy.rglob("values.schema.json"):
        schema.chmod(0o644)
        schema.write_text(json.dumps(_drop_web_refs(json.loads(schema.read_text()))))
    return copy


def _drop_web_refs(node: Any) -> Any:
    if isinstance(node, dict):
        if str(node.get("$ref", "")).startswith(SCHEMA_HOST):
            return {}
        return {key: _drop_web_refs(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_drop_web_refs(item) for item in node]
    return node


def _values(*, namespace: str, pg_host: str, db_name: str, password: str, artifacts: Path) -> dict[str, Any]:
    """The K8s-launcher shape (multiprocess executor in the run pod), pointed at this test's cluster."""
    image = _image(USER_CODE_IMAGE)
    launcher = {
        "load_incluster_config": True,
        "job_namespace": namespace,
        "service_account_name": FULLNAME,
        "image_pull_policy": "IfNotPresent",
        "dagster_home": "/opt/dagster/dagster_home",
        "instance_config_map": f"{FULLNAME}-instance",
        "postgres_password_secret": "dagster-postgresql-secret",
        "env_config_maps": [f"{FULLNAME}-pipeline-env"],
        "volumes": [{"name": "artifacts", "hostPath": {"path": str(artifacts), "type": "Directory"}}],
        "volume_mounts": [{"name": "artifacts", "mountPath": ARTIFACTS}],
    }
    return {
        "dagsterWebserver": {"image": image, "replicaCount": 1 if WEBSERVER_IN_IMAGE else 0},
        "dagsterDaemon": {
            "image": image,
            "runCoordinator": {"enabled": True, "type": "QueuedRunCoordinator"},
            "runMonitoring": {"enabled": True, "startTimeoutSeconds": 300, "pollIntervalSeconds": 30},
        },
        "runLauncher": {
            "type": "CustomRunLauncher",
            "config": {
                "customRunLauncher": {
                    "module": "dagster_ext.k8s",
                    "class": "K8sRunLauncher",
                    "config": launcher,
                }
            },
        },
        "postgresql": {
            "enabled": False,
            "image": _image(CHART_INIT_IMAGE),
            "postgresqlHost": pg_host,
            "postgresqlUsername": "postgres",
            "postgresqlPassword": password,
            "postgresqlDatabase": db_name,
            "service": {"port": 5432},
        },
        "busybox": {"image": _image(CHART_INIT_IMAGE)},
        "dagster-user-deployments": {
            "enabled": True,
            "enableSubchart": True,
            "deployments": [
                {
                    "name": LOCATION,
                    "image": image,
                    "dagsterApiGrpcArgs": ["-m", "examples.definitions"],
                    "port": 3030,
                }
            ],
        },
        "pipelineRun": {"image": image},
        "additionalInstanceConfig": {
            "local_artifact_storage": {
                "module": "dagster._core.storage.root",
                "class": "LocalArtifactStorage",
                "config": {"base_dir": ARTIFACTS},
            }
        },
        "flower": {"enabled": False},
    }


def _helm(*args: str, kubeconfig: Path, timeout_s: float = 180) -> str:
    from dagster_ext.testing.cluster.helm import ensure_helm

    argv = [str(ensure_helm()), "--kubeconfig", str(kubeconfig), *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    assert result.returncode == 0, f"helm {args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _create_database(postgres: PostgresServer) -> str:
    import psycopg2

    name = f"e2e_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(postgres.url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return name


@pytest.fixture
def installed(
    k8s_cluster: K8sCluster, k8s_namespace: str, postgres: PostgresServer, tmp_path: Path
) -> Iterator[dict[str, Any]]:
    """The chart installed in the test's namespace; uninstalled afterwards."""
    chart = _offline_copy(_chart_dir(), tmp_path)
    db_name = _create_database(postgres)
    pg_host = expose_host_port(
        k8s_cluster.core_v1, k8s_namespace, "postgresql", port=postgres.port, service_port=5432
    )
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    artifacts.chmod(0o777)
    values = _values(
        namespace=k8s_namespace,
        pg_host=pg_host,
        db_name=db_name,
        password=postgres.password,
        artifacts=artifacts,
    )
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    kubeconfig = k8s_cluster.kubeconfig_path
    _helm("install", RELEASE, str(chart), "-n", k8s_namespace, "-f", str(values_file), kubeconfig=kubeconfig)
    try:
        yield {"namespace": k8s_namespace, "db_name": db_name, "artifacts": artifacts}
    finally:
        _helm("uninstall", RELEASE, "-n", k8s_namespace, "--wait", kubeconfig=kubeconfig)


def _wait_for_deployments(apps_v1: Any, core_v1: Any, namespace: str, *, expected: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    status: dict[str, str] = {}
    while time.monotonic() < deadline:
        items = apps_v1.list_namespaced_deployment(namespace).items
        status = {d.metadata.name: f"{d.status.ready_replicas or 0}/{d.spec.replicas}" for d in items}
        if len(items) == expected and all((d.status.ready_replicas or 0) >= d.spec.replicas for d in items):
            return
        time.sleep(2)
    raise AssertionError(
        f"Deployments not ready after {READY_TIMEOUT_S}s: {status}; pods: {_pod_states(core_v1, namespace)}"
    )


def _pod_states(core_v1: Any, namespace: str) -> dict[str, list[str]]:
    """Each pod's containers (init ones first) as `name:state`, for a failure message."""
    states: dict[str, list[str]] = {}
    for pod in core_v1.list_namespaced_pod(namespace).items:
        statuses = (pod.status.init_container_statuses or []) + (pod.status.container_statuses or [])
        states[pod.metadata.name] = [f"{c.name}:{_state(c.state)}" for c in statuses]
    return states


def _state(state: Any) -> str:
    if state.waiting:
        return str(state.waiting.reason)
    if state.terminated:
        return f"{state.terminated.reason}({state.terminated.exit_code})"
    return "running"


def _exec(core_v1: Any, namespace: str, pod: str, command: list[str]) -> str:
    from kubernetes.stream import stream

    return str(
        stream(
            core_v1.connect_get_namespaced_pod_exec,
            pod,
            namespace,
            command=command,
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
        )
    )


def _daemon_pod(core_v1: Any, namespace: str) -> str:
    pods = core_v1.list_namespaced_pod(namespace, label_selector="component=dagster-daemon").items
    running = [p.metadata.name for p in pods if p.status.phase == "Running"]
    assert running, [p.metadata.name for p in pods]
    return str(running[0])


def _host_instance(postgres: PostgresServer, db_name: str, home: Path) -> Any:
    """An instance on this machine reading the release's storage (runs and their events)."""
    from dagster import DagsterInstance

    storage = {
        "postgres": {
            "postgres_db": {
                "username": postgres.user,
                "password": postgres.password,
                "hostname": "127.0.0.1",
                "db_name": db_name,
                "port": postgres.port,
            }
        }
    }
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump({"storage": storage}))
    return DagsterInstance.from_config(str(home))


def _wait_for_run(instance: Any, run_id: str) -> str:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    status = "NOT_FOUND"
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        status = run.status.value if run is not None else "NOT_FOUND"
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(2)
    return status


def _complete(k8s_job: Any) -> bool:
    return any(c.type == "Complete" and c.status == "True" for c in k8s_job.status.conditions or ())


def _run_failure_messages(instance: Any, run_id: str) -> list[str]:
    return [
        str(r.message)[:500] for r in instance.all_logs(run_id) if r.level >= 40 or r.dagster_event is None
    ][-10:]


SHAPES = {
    # shape: (job, K8s Jobs per step)
    "k8s-launcher": ("process_numbers", 0),
    "k8s-step-executor": ("process_numbers_k8s", 6),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_shape_runs_process_numbers_to_55_through_the_daemon(
    shape: str, k8s_cluster: K8sCluster, installed: dict[str, Any], postgres: PostgresServer, tmp_path: Path
) -> None:
    from dagster import DagsterEventType
    from kubernetes import client

    job, step_jobs = SHAPES[shape]
    namespace = installed["namespace"]
    apps_v1 = client.AppsV1Api(k8s_cluster.api_client())
    exec_core_v1 = client.CoreV1Api(k8s_cluster.api_client())  # `stream` patches its client
    _wait_for_deployments(apps_v1, k8s_cluster.core_v1, namespace, expected=3)

    run_id = str(uuid.uuid4())
    launch = ["dagster", "job", "launch", "-w", "/dagster-workspace/workspace.yaml", "-l", LOCATION]
    launch += ["-j", job, "--run-id", run_id]
    output = _exec(exec_core_v1, namespace, _daemon_pod(k8s_cluster.core_v1, namespace), launch)

    instance = _host_instance(postgres, installed["db_name"], tmp_path / "host-home")
    status = _wait_for_run(instance, run_id)
    assert status == "SUCCESS", (output, _run_failure_messages(instance, run_id))
    events = [r.dagster_event.event_type for r in instance.all_logs(run_id) if r.dagster_event]
    # queued by `dagster job launch`, started by the daemon (nothing else dequeues)
    assert events[:2] == [DagsterEventType.RUN_ENQUEUED, DagsterEventType.RUN_STARTING], events

    jobs = k8s_cluster.batch_v1.list_namespaced_job(namespace).items
    run_jobs = [j for j in jobs if j.metadata.name.startswith("dagster-run-")]
    assert len(run_jobs) == 1, [j.metadata.name for j in jobs]
    steps = [j for j in jobs if j.metadata.name.startswith("dagster-step-")]
    assert len(steps) == step_jobs, [j.metadata.name for j in jobs]
    for k8s_job in run_jobs + steps:  # the run is SUCCESS before its pod's process has exited
        wait_for_named(
            k8s_cluster.batch_v1.list_namespaced_job,
            namespace,
            k8s_job.metadata.name,
            _complete,
            timeout_s=120,
            what=f"K8s Job {k8s_job.metadata.name} to complete",
        )

    result = installed["artifacts"] / "storage" / run_id / "sum_two_sums" / "result"
    assert pickle.loads(result.read_bytes()) == 55
