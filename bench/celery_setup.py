"""The Celery bench environment: Redis, PostgreSQL storage, a `dagster api grpc` code location, the
default run launcher, and the two executors' workers, started and stopped one executor at a time.

Runs are submitted with `dagster job launch` through the default run launcher (the code server starts
`dagster api execute_run`), so the run worker is a separate process, as in a deployment. Each
executor gets its own Redis databases: both use the queue name `dagster`, and a worker receiving the
other executor's task would reject it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dagster_ext.testing._procs import free_port, stop_process_group, wait_for_port
from dagster_ext.testing.deployment import CodeLocation, DagsterDeployment, DeploymentError
from dagster_ext.testing.services import postgres_server, redis_server

ROOT = Path(__file__).resolve().parents[1]
SLOTS = 4
WORKER_READY_TIMEOUT_S = 90.0
# Imported by both workers: Celery's task signals give one slot-utilisation measure for both.
PROBE = "bench.celery_slot_probe"
# Redis databases: ours uses one (broker and claims), dagster-celery a broker and a result backend.
REDIS_DB = {"ours": 0, "peer": 1, "peer_backend": 2}
# Our worker's tuning options per bench executor (the variants run one worker the same way otherwise).
OURS_WORKER_ARGS = {
    "ours": (),
    "ours_fetch_off": ("--no-fetch-at-step-end",),
    "ours_read_ahead": ("--read-ahead", "1"),
    "ours_tuned": ("--read-ahead", "1", "--slot-nice", "10"),
}


@dataclass
class CeleryBench:
    deployment: DagsterDeployment
    redis_url: str  # without the database number
    work_dir: Path
    ours_extra: dict[str, Any] = field(default_factory=dict)  # e.g. event_poll_seconds, for a variant

    def executor_config(self, executor: str) -> dict[str, Any]:
        """`execution.config` for the executor; the worker reads the same mapping."""
        if executor in OURS_WORKER_ARGS:
            return {"broker": f"{self.redis_url}/{REDIS_DB['ours']}", **self.ours_extra}
        if executor == "peer":
            return {
                "broker": f"{self.redis_url}/{REDIS_DB['peer']}",
                "backend": f"{self.redis_url}/{REDIS_DB['peer_backend']}",
            }
        return {}

    def run_config(self, executor: str) -> dict[str, Any]:
        config = self.executor_config(executor)
        return {"execution": {"config": config}} if config else {}

    def slot_probe_file(self, executor: str) -> Path:
        """Where `bench.celery_slot_probe` in the executor's worker writes its task spans."""
        return self.work_dir / f"slots-{executor}.jsonl"

    @contextmanager
    def workers(self, executor: str, *, slots: int = SLOTS) -> Iterator[subprocess.Popen[bytes] | None]:
        """One worker with `slots` prefork slots for a Celery executor (none for in_process)."""
        if executor == "in_process":
            yield None
            return
        config = self.work_dir / f"worker-{executor}.yaml"
        config.write_text(yaml.safe_dump(self.run_config(executor)))
        log_path = self.work_dir / f"worker-{executor}.log"
        env = {**self.deployment.env, "DX_SLOT_PROBE_FILE": str(self.slot_probe_file(executor))}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                worker_command(executor, config, slots),
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_worker_ready(self.executor_config(executor)["broker"], f"{executor}@bench", proc, log_path)
            yield proc
        finally:
            stop_process_group(proc, grace_s=10)


def worker_command(executor: str, config: Path, slots: int) -> list[str]:
    """Each executor's own worker CLI, with `slots` slots on queue `dagster` and the slot probe."""
    if executor in OURS_WORKER_ARGS:
        cli = [sys.executable, "-c", "from dagster_ext.cli import main; main()", "celery", "worker"]
        cli += ["-y", str(config), "-q", "dagster", "-n", f"{executor}@bench", "-l", "WARNING"]
        cli += OURS_WORKER_ARGS[executor]
        return [*cli, "-c", str(slots), "--", "-I", PROBE]
    # dagster-celery's CLI writes the config as a `dagster_celery_config` module under
    # $DAGSTER_HOME and runs `celery -A dagster_celery.app worker` with it on the PYTHONPATH.
    cli = ["dagster-celery", "worker", "start"]
    cli += ["-A", "dagster_celery.app", "-y", str(config), "-q", "dagster", "-n", "peer", "-l", "WARNING"]
    return [*cli, "--", "-c", str(slots), "-I", PROBE]


def wait_worker_ready(broker: str, name: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until the worker answers a broadcast ping (its slot processes are forked by then)."""
    from celery import Celery

    app = Celery(broker=broker, set_as_current=False)
    deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise DeploymentError(f"worker exited:\n{log.read_text(errors='replace')[-3000:]}")
            replies = app.control.ping(timeout=1.0)
            if any(name.split("@", maxsplit=1)[0] in next(iter(reply)) for reply in replies):
                return
    finally:
        app.close()
    raise DeploymentError(f"worker {name} did not answer in {WORKER_READY_TIMEOUT_S}s")


def _instance_yaml(postgres: Any) -> dict[str, Any]:
    """PostgreSQL storage, runs launched at once, the default run launcher (none configured)."""
    return {
        "storage": postgres.dagster_storage_config(),
        "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"},
        "telemetry": {"enabled": False},
    }


def _start_code_server(deployment: DagsterDeployment) -> subprocess.Popen[bytes]:
    location = deployment.location
    cmd = [sys.executable, "-m", "dagster", "api", "grpc", "-h", "127.0.0.1", "-p", str(deployment.grpc_port)]
    cmd += ["-f", location.python_file, "-d", location.working_directory, "--location-name", location.name]
    with open(deployment.home / "grpc.log", "ab") as log:
        proc = subprocess.Popen(
            cmd,
            env=deployment.env,
            cwd=location.working_directory,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if not wait_for_port(deployment.grpc_port, timeout_s=90, proc=proc):
        stop_process_group(proc)
        log_text = (deployment.home / "grpc.log").read_text(errors="replace")
        raise DeploymentError(f"code location server did not start:\n{log_text[-3000:]}")
    return proc


@contextmanager
def celery_bench(work_dir: Path) -> Iterator[CeleryBench]:
    with redis_server() as redis, postgres_server() as postgres:
        home = work_dir / "dagster_home"
        home.mkdir(parents=True)
        (home / "dagster.yaml").write_text(yaml.safe_dump(_instance_yaml(postgres)))
        location = CodeLocation(
            python_file=str(ROOT / "bench" / "celery_code_location.py"),
            working_directory=str(ROOT),
            name="bench_celery",
        )
        deployment = DagsterDeployment(home, "", "", postgres, postgres.db_name, free_port(), location)
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        deployment.instance().dispose()  # creates the schema before several processes race to
        proc = _start_code_server(deployment)
        try:
            yield CeleryBench(deployment, f"redis://127.0.0.1:{redis.port}", work_dir)
        finally:
            stop_process_group(proc, grace_s=10)
