"""End to end: `helm install` of the shipped charts for each shape, on the real node.

The dagster-ext chart (ServiceAccount, least-privilege Role, Celery workers) is installed first,
then the official chart with `helm-values/<shape>.yaml`, and only test-machine overrides on top
(`release.py`): webserver, daemon and code location from the user-code image, PostgreSQL (and Redis)
on this machine behind Service names. Every Deployment (the webserver, which answers its readiness
probe on `/server_info`, and two Celery worker replicas) must become Ready. The example job is
submitted through the instance from inside the daemon's pod (`dagster job launch` with the chart's
workspace), so the daemon's queued run coordinator dequeues it and our launcher starts the
`dagster-run-…` K8s Job. The result, 55, is read from the run's outputs, which the run's pods write to a host
directory. Every pod runs as the shipped ServiceAccount, which may not read Secrets or touch another
namespace.
"""

from __future__ import annotations

import json
import pickle
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dagster_ext.testing.helm_chart import OfflineChart
from dagster_ext.testing.host_services import expose_host_port
from dagster_ext.testing.pytest_plugin import K8sCluster
from dagster_ext.testing.services import PostgresServer
from dagster_ext.testing.waiting import wait_for_named

from .observing import (
    can_i,
    complete,
    daemon_pod,
    exec_in_pod,
    host_instance,
    pod_states,
    run_failure_messages,
    wait_for_deployments,
    wait_for_run,
)
from .release import (
    BROKER_ENV,
    LOCATION,
    SERVICE_ACCOUNT,
    WORKER_REPLICAS,
    Backends,
    create_broker_secret,
    create_database,
    installed_releases,
)

pytestmark = [pytest.mark.slow]

OTHER_NAMESPACE = "default"


@dataclass(frozen=True)
class Shape:
    job: str
    step_k8s_jobs: int  # K8s Jobs per step (6 ops)
    deployments: int  # the official chart's three, plus our workers
    run_config: dict[str, Any] = field(default_factory=dict)


SHAPES = {
    "k8s-launcher": Shape("process_numbers", 0, 3),
    "k8s-step-executor": Shape("process_numbers_k8s", 6, 3),
    # The broker as docs/deploy.md tells users to configure it: from the Secret-backed variable.
    "celery": Shape(
        "process_numbers_celery", 0, 4, {"execution": {"config": {"broker": {"env": BROKER_ENV}}}}
    ),
}


@dataclass(frozen=True)
class Installed:
    shape: str
    namespace: str
    backends: Backends


@pytest.fixture
def installed(
    request: pytest.FixtureRequest,
    *,
    helm: Path,
    dagster_chart: OfflineChart,
    k8s_cluster: K8sCluster,
    k8s_namespace: str,
    postgres: PostgresServer,
    tmp_path: Path,
) -> Iterator[Installed]:
    """Both charts installed in the test's namespace for the shape `request.param`."""
    shape = str(request.param)
    core_v1 = k8s_cluster.core_v1
    pg_host = expose_host_port(core_v1, k8s_namespace, "postgresql", port=postgres.port, service_port=5432)
    broker_url = None
    if shape == "celery":
        redis = request.getfixturevalue("redis")
        redis_host = expose_host_port(core_v1, k8s_namespace, "redis", port=redis.port, service_port=6379)
        broker_url = f"redis://{redis_host}:6379/0"
        create_broker_secret(core_v1, k8s_namespace, broker_url)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    artifacts.chmod(0o777)
    backends = Backends(pg_host, create_database(postgres), postgres.password, artifacts, broker_url)
    with installed_releases(
        helm,
        dagster_chart.path,
        shape=shape,
        namespace=k8s_namespace,
        backends=backends,
        kubeconfig=k8s_cluster.kubeconfig_path,
        workdir=tmp_path,
    ):
        yield Installed(shape, k8s_namespace, backends)


def _launch(k8s_cluster: K8sCluster, namespace: str, shape: Shape, run_id: str) -> str:
    from kubernetes import client

    exec_core_v1 = client.CoreV1Api(k8s_cluster.api_client())  # `stream` patches its client
    launch = ["dagster", "job", "launch", "-w", "/dagster-workspace/workspace.yaml", "-l", LOCATION]
    launch += ["-j", shape.job, "--run-id", run_id]
    if shape.run_config:
        launch += ["--config-json", json.dumps(shape.run_config)]
    return exec_in_pod(exec_core_v1, namespace, daemon_pod(k8s_cluster.core_v1, namespace), launch)


def _wait_for_k8s_jobs(k8s_cluster: K8sCluster, namespace: str, shape: Shape) -> None:
    jobs = k8s_cluster.batch_v1.list_namespaced_job(namespace).items
    run_jobs = [j for j in jobs if j.metadata.name.startswith("dagster-run-")]
    assert len(run_jobs) == 1, [j.metadata.name for j in jobs]
    steps = [j for j in jobs if j.metadata.name.startswith("dagster-step-")]
    assert len(steps) == shape.step_k8s_jobs, [j.metadata.name for j in jobs]
    for k8s_job in run_jobs + steps:  # the run is SUCCESS before its pod's process has exited
        wait_for_named(
            k8s_cluster.batch_v1.list_namespaced_job,
            namespace,
            k8s_job.metadata.name,
            complete,
            timeout_s=120,
            what=f"K8s Job {k8s_job.metadata.name} to complete",
        )


def _assert_both_workers_registered(k8s_cluster: K8sCluster, namespace: str) -> None:
    """Both replicas of the worker Deployment are live in the worker directory, as `dagster-ext
    celery status` (the probe's command) reports it from inside a worker pod."""
    from kubernetes import client

    pods = k8s_cluster.core_v1.list_namespaced_pod(namespace).items
    workers = [
        p.metadata.name for p in pods if "-celery-default" in p.metadata.name and p.status.phase == "Running"
    ]
    assert len(workers) == WORKER_REPLICAS, workers
    exec_core_v1 = client.CoreV1Api(k8s_cluster.api_client())  # `stream` patches its client
    # A leading line keeps the output a string: the client's `stream` turns JSON output into a dict.
    status = "echo report; dagster-ext celery status -y /opt/dagster/dagster-ext/executor.yaml --json"
    output = exec_in_pod(exec_core_v1, namespace, workers[0], ["/bin/sh", "-c", status])
    report = json.loads(output.split("\n", 1)[1])
    hosts = {str(w["name"]).rsplit("@", 1)[-1] for w in report["workers"]}
    assert hosts == set(workers), (hosts, workers)  # one per pod: the pod name is the host name


def _assert_least_privilege(k8s_cluster: K8sCluster, namespace: str, shape: str) -> None:
    """Every pod (chart, run, step, worker) runs as the shipped ServiceAccount, which can do its
    job in its namespace and no more."""
    from kubernetes import client

    pods = k8s_cluster.core_v1.list_namespaced_pod(namespace).items
    accounts = {p.metadata.name: p.spec.service_account_name for p in pods}
    assert set(accounts.values()) == {SERVICE_ACCOUNT}, accounts
    kinds = {"daemon": "dagster-daemon", "code location": LOCATION, "run": "dagster-run-"}
    if shape == "celery":
        kinds["worker"] = "-celery-default"
    for kind, part in kinds.items():
        assert any(part in name for name in accounts), (kind, sorted(accounts))

    authorization_v1 = client.AuthorizationV1Api(k8s_cluster.api_client())

    def allowed(verb: str, resource: str, where: str, group: str = "") -> bool:
        return can_i(
            authorization_v1,
            service_account=SERVICE_ACCOUNT,
            sa_namespace=namespace,
            verb=verb,
            resource=resource,
            namespace=where,
            group=group,
        )

    # It can do its job (so the denials below are the Role's, not a broken review) ...
    assert allowed("create", "jobs", namespace, "batch")
    assert allowed("watch", "pods", namespace)
    # ... and nothing else: no Secrets, no pods of its own, nothing in another namespace.
    denied = {
        "get secrets": allowed("get", "secrets", namespace),
        "list secrets": allowed("list", "secrets", namespace),
        "create pods": allowed("create", "pods", namespace),
        "create jobs elsewhere": allowed("create", "jobs", OTHER_NAMESPACE, "batch"),
        "get secrets elsewhere": allowed("get", "secrets", OTHER_NAMESPACE),
        "list pods elsewhere": allowed("list", "pods", OTHER_NAMESPACE),
    }
    assert not any(denied.values()), denied


@pytest.mark.parametrize("installed", list(SHAPES), indirect=True)
def test_a_shape_runs_process_numbers_to_55_through_the_daemon(
    installed: Installed, k8s_cluster: K8sCluster, postgres: PostgresServer, tmp_path: Path
) -> None:
    from dagster import DagsterEventType
    from kubernetes import client

    shape, namespace = SHAPES[installed.shape], installed.namespace
    apps_v1 = client.AppsV1Api(k8s_cluster.api_client())
    wait_for_deployments(apps_v1, k8s_cluster.core_v1, namespace, expected=shape.deployments)

    run_id = str(uuid.uuid4())
    output = _launch(k8s_cluster, namespace, shape, run_id)
    instance = host_instance(postgres, installed.backends.db_name, tmp_path / "host-home")
    status = wait_for_run(instance, run_id)
    assert status == "SUCCESS", (
        output,
        run_failure_messages(instance, run_id),
        pod_states(k8s_cluster.core_v1, namespace),
    )
    events = [r.dagster_event.event_type for r in instance.all_logs(run_id) if r.dagster_event]
    # queued by `dagster job launch`, started by the daemon (nothing else dequeues)
    assert events[:2] == [DagsterEventType.RUN_ENQUEUED, DagsterEventType.RUN_STARTING], events
    _wait_for_k8s_jobs(k8s_cluster, namespace, shape)

    result = installed.backends.artifacts / "storage" / run_id / "sum_two_sums" / "result"
    assert pickle.loads(result.read_bytes()) == 55
    _assert_least_privilege(k8s_cluster, namespace, installed.shape)
    if installed.shape == "celery":
        _assert_both_workers_registered(k8s_cluster, namespace)
