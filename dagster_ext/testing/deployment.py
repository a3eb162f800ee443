"""A real Dagster deployment for tests and the demo: PostgreSQL storage, a `dagster api grpc` code
location on loopback, our K8s run launcher, and optionally the daemon (run monitoring, retries).

Runs are submitted the way users submit them (`dagster job launch` through the instance's run
launcher), so what the tests exercise is what a deployment does. The run and step pods run the
user-code image, which holds the same source at another path: the code location is served by module
name (`-m tests.integration.code_location`), so the origin it hands to pods names no host path.
`$DAGSTER_HOME` is a hostPath volume that the launcher config mounts in the run pod and every step
pod inherits: step outputs (the default filesystem IO manager), compute logs and the Celery
executor's embedded broker are one directory on a one-node cluster, shared with Celery workers
running on this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dagster_ext.errors import DagsterExtError
from dagster_ext.testing._procs import free_port, stop_process_group, wait_for_port
from dagster_ext.testing.images.catalog import USER_CODE_IMAGE
from dagster_ext.testing.services import PostgresServer

LOCAL_IMAGE = USER_CODE_IMAGE
PG_SECRET = "dagster-postgresql-secret"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


class DeploymentError(DagsterExtError):
    """The test deployment could not start or a run did not reach the expected state."""


@dataclass
class CodeLocation:
    """What `dagster api grpc` serves: `python_file` from `working_directory`, by module name when
    the file lies inside the working directory (see the module docstring)."""

    python_file: str
    working_directory: str
    name: str = "examples"
    container_context: Mapping[str, Any] | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    def target_args(self) -> list[str]:
        path, root = Path(self.python_file).resolve(), Path(self.working_directory).resolve()
        if path.suffix == ".py" and path.is_relative_to(root):
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            return ["-m", module, "-d", str(root)]
        return ["-f", self.python_file, "-d", self.working_directory]


@dataclass
class DagsterDeployment:
    home: Path
    namespace: str
    kubeconfig_path: str
    postgres: PostgresServer
    db_name: str
    grpc_port: int
    location: CodeLocation
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "DAGSTER_PG_PASSWORD": self.postgres.password,
        }

    def instance(self) -> Any:
        from dagster import DagsterInstance

        os.environ["DAGSTER_PG_PASSWORD"] = self.postgres.password
        return DagsterInstance.from_config(str(self.home))

    def launcher_config(self) -> dict[str, Any]:
        config = yaml.safe_load((self.home / "dagster.yaml").read_text())
        return dict(config["run_launcher"]["config"])

    def rewrite_launcher_config(self, launcher_config: Mapping[str, Any]) -> None:
        """Change the launcher config for runs launched from now on."""
        path = self.home / "dagster.yaml"
        config = yaml.safe_load(path.read_text())
        config["run_launcher"]["config"] = dict(launcher_config)
        path.write_text(yaml.safe_dump(config))

    def launch(
        self,
        job: str,
        *,
        tags: Mapping[str, Any] | None = None,
        run_config: Mapping[str, Any] | None = None,
        timeout_s: float = 300,
    ) -> str:
        """Submit a run through the instance's run launcher; returns the run id."""
        run_id = str(uuid.uuid4())
        cmd = [sys.executable, "-m", "dagster", "job", "launch", "-j", job, "--run-id", run_id]
        cmd += ["--grpc-host", "127.0.0.1", "--grpc-port", str(self.grpc_port)]
        if tags:
            cmd += [
                "--tags",
                json.dumps({k: v if isinstance(v, str) else json.dumps(v) for k, v in tags.items()}),
            ]
        if run_config:
            cmd += ["--config-json", json.dumps(run_config)]
        result = subprocess.run(
            cmd, env=self.env, capture_output=True, text=True, timeout=timeout_s, check=False, cwd=self.home
        )
        if result.returncode != 0:
            raise DeploymentError(
                f"dagster job launch failed ({result.returncode}):\n{result.stderr[-4000:]}"
            )
        return run_id

    def wait_for_run(self, run_id: str, *, timeout_s: float = 300, statuses: set[str] | None = None) -> Any:
        """Poll run storage until the run reaches one of `statuses` (default: any terminal one)."""
        wanted = statuses or TERMINAL
        instance = self.instance()
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                run = instance.get_run_by_id(run_id)
                if run is not None and run.status.value in wanted:
                    return run
                time.sleep(0.25)
            run = instance.get_run_by_id(run_id)
            raise DeploymentError(
                f"run {run_id} is {run.status.value if run else 'missing'} after {timeout_s}s"
            )
        finally:
            instance.dispose()

    def event_messages(self, run_id: str) -> list[str]:
        instance = self.instance()
        try:
            return [record.message or "" for record in instance.all_logs(run_id)]
        finally:
            instance.dispose()

    def start_daemon(self) -> None:
        log = open(self.home / "daemon.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dagster._daemon",
                "run",
                "--grpc-host",
                "127.0.0.1",
                "--grpc-port",
                str(self.grpc_port),
            ],
            env=self.env,
            cwd=self.home,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._procs.append(proc)

    def stop(self) -> None:
        while self._procs:
            stop_process_group(self._procs.pop(), grace_s=10)


def instance_yaml(
    *,
    postgres: PostgresServer,
    db_name: str,
    launcher_module: str = "dagster_ext.k8s",
    launcher_config: Mapping[str, Any],
    monitoring: Mapping[str, Any] | None = None,
    run_retries: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    storage = postgres.dagster_storage_config()
    storage["postgres"]["postgres_db"]["db_name"] = db_name
    return {
        "storage": storage,
        # Submitting launches at once (in `dagster job launch`), so launch_run errors reach the caller.
        "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"},
        "run_launcher": {
            "module": launcher_module,
            "class": "K8sRunLauncher",
            "config": dict(launcher_config),
        },
        "run_monitoring": {
            "enabled": True,
            "poll_interval_seconds": 2,
            "start_timeout_seconds": 60,
            **(monitoring or {}),
        },
        "run_retries": {"enabled": True, **(run_retries or {})},
        "telemetry": {"enabled": False},
    }


def default_launcher_config(*, namespace: str, kubeconfig_path: str, home: Path) -> dict[str, Any]:
    """The example launcher config (node selector, run resources) pointed at the test cluster."""
    return {
        "load_incluster_config": False,
        "kubeconfig_file": kubeconfig_path,
        "job_namespace": namespace,
        "job_image": LOCAL_IMAGE,
        "image_pull_policy": "IfNotPresent",
        "dagster_home": str(home),
        "instance_config_map": "dagster-instance",
        "postgres_password_secret": PG_SECRET,
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "2000m", "memory": "4096Mi"},
        },
        "run_k8s_config": {"pod_spec_config": {"nodeSelector": {"node-group.dp.ssup2": "worker"}}},
        "volumes": [home_volume(home)],
        "volume_mounts": [{"name": HOME_VOLUME, "mountPath": str(home)}],
        "failure_grace_seconds": {"image_pull": 0, "unschedulable": 5, "container_config": 5},
    }


HOME_VOLUME = "dagster-home"


def home_volume(home: Path) -> dict[str, Any]:
    """`$DAGSTER_HOME` shared by the run pod, its step pods and this machine (one node: one directory)."""
    return {"name": HOME_VOLUME, "hostPath": {"path": str(home), "type": "DirectoryOrCreate"}}


RUN_WORKER_RULES: list[dict[str, Any]] = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
]
"""What a run pod's ServiceAccount needs for the K8s step executor and `execute_k8s_job` (in-cluster)."""


RBAC_GROUP = "rbac.authorization.k8s.io"


def grant_run_worker_rbac(rbac_v1: Any, namespace: str, service_account: str = "default") -> None:
    """A Role with `RUN_WORKER_RULES`, bound to the ServiceAccount run pods use."""
    rbac_v1.create_namespaced_role(
        namespace, {"metadata": {"name": "dagster-run-worker"}, "rules": RUN_WORKER_RULES}
    )
    rbac_v1.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "dagster-run-worker"},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": "dagster-run-worker"},
            "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
        },
    )


def create_pg_secret(core_v1: Any, namespace: str, password: str) -> None:
    from kubernetes import client

    body = client.V1Secret(
        metadata=client.V1ObjectMeta(name=PG_SECRET), string_data={"postgresql-password": password}
    )
    core_v1.create_namespaced_secret(namespace, body)


def _create_database(postgres: PostgresServer, db_name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(postgres.url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{db_name}"')
    conn.close()


@contextmanager
def dagster_deployment(
    *,
    postgres: PostgresServer,
    namespace: str,
    kubeconfig_path: str,
    core_v1: Any,
    location: CodeLocation,
    rbac_v1: Any = None,
    launcher_config: Mapping[str, Any] | None = None,
    launcher_module: str = "dagster_ext.k8s",
    monitoring: Mapping[str, Any] | None = None,
    run_retries: Mapping[str, Any] | None = None,
    daemon: bool = False,
    home: Path | None = None,
) -> Iterator[DagsterDeployment]:
    home = home or Path(tempfile.mkdtemp(prefix="dagster-ext-home-"))
    home.mkdir(parents=True, exist_ok=True)
    db_name = f"d_{uuid.uuid4().hex[:12]}"
    _create_database(postgres, db_name)
    create_pg_secret(core_v1, namespace, postgres.password)
    if rbac_v1 is not None:
        grant_run_worker_rbac(rbac_v1, namespace)
    config = launcher_config or default_launcher_config(
        namespace=namespace, kubeconfig_path=kubeconfig_path, home=home
    )
    (home / "dagster.yaml").write_text(
        yaml.safe_dump(
            instance_yaml(
                postgres=postgres,
                db_name=db_name,
                launcher_module=launcher_module,
                launcher_config=config,
                monitoring=monitoring,
                run_retries=run_retries,
            )
        )
    )
    port = free_port()
    deployment = DagsterDeployment(home, namespace, kubeconfig_path, postgres, db_name, port, location)
    env = {**deployment.env, **location.env, "DAGSTER_CURRENT_IMAGE": LOCAL_IMAGE}
    if location.container_context is not None:
        env["DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT"] = json.dumps(location.container_context)
    log = open(home / "grpc.log", "ab")  # noqa: SIM115 - owned by the child
    grpc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster",
            "api",
            "grpc",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            *location.target_args(),
            "--location-name",
            location.name,
        ],
        env=env,
        cwd=location.working_directory,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deployment._procs.append(grpc)
    try:
        if not wait_for_port(port, timeout_s=60, proc=grpc):
            raise DeploymentError(
                f"code location server did not start:\n{(home / 'grpc.log').read_text()[-3000:]}"
            )
        if daemon:
            deployment.start_daemon()
        yield deployment
    finally:
        deployment.stop()
        if not os.environ.get("DAGSTER_EXT_KEEP_TEST_HOME"):
            shutil.rmtree(home, ignore_errors=True)
