"""Harness for the Celery-queue executor tests: a DAGSTER_HOME, real worker processes
(`dagster-ext celery worker`) and runs in their own processes (`run_job.py`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dagster_ext.celery.claims import ClaimBackend, open_claim_store
from dagster_ext.celery.settings import QueueSettings, settings_from_config
from dagster_ext.testing._procs import stop_process_group
from dagster_ext.testing.deployment import create_pg_secret, default_launcher_config

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


@dataclass
class RunProcess:
    proc: subprocess.Popen[bytes]
    log: Path

    def result(self, timeout_s: float) -> dict[str, Any]:
        self.proc.wait(timeout=timeout_s)
        lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.startswith("{")]
        assert lines, f"run printed no summary; log tail:\n{self.log.read_text(errors='replace')[-3000:]}"
        return dict(json.loads(lines[-1]))


@dataclass
class CeleryHarness:
    home: Path
    executor_config: dict[str, Any]
    env: dict[str, str]
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    runs: list[RunProcess] = field(default_factory=list)

    @property
    def trace_file(self) -> Path:
        return self.home / "trace" / "trace.jsonl"

    @property
    def settings(self) -> QueueSettings:
        return settings_from_config(self.executor_config, self.env)

    @property
    def store(self) -> ClaimBackend:
        return open_claim_store(self.settings.claims_url)

    @property
    def run_config(self) -> dict[str, Any]:
        return {"execution": {"config": self.executor_config}}

    def start_worker(
        self,
        name: str,
        *,
        queues: tuple[str, ...] = ("dagster",),
        slots: int = 1,
        options: tuple[str, ...] = (),
        plain_celery: bool = False,
    ) -> None:
        """`options`: more `dagster-ext celery worker` options, e.g. ("--read-ahead", "1").
        `plain_celery`: start it as `celery -A dagster_ext.celery.worker.app worker` instead, with
        the executor config from $DAGSTER_EXT_CELERY_CONFIG."""
        config_path = self.home / "worker_config.yaml"
        config_path.write_text(yaml.safe_dump(self.run_config))
        env = {**self.env, "DX_WORKER_NAME": name}
        if plain_celery:
            args = [sys.executable, "-m", "celery", "-A", "dagster_ext.celery.worker.app", "worker"]
            args += ["-Q", ",".join(queues), "--without-gossip", "--without-mingle"]
            env["DAGSTER_EXT_CELERY_CONFIG"] = str(config_path)
        else:
            args = [sys.executable, "-c", "from dagster_ext.cli import main; main()", "celery", "worker"]
            args += ["-y", str(config_path), *(arg for queue in queues for arg in ("-q", queue))]
        args += ["-c", str(slots), "-n", f"{name}@test", "-l", "INFO", *options]
        log = open(self.home / f"worker-{name}.log", "ab")  # noqa: SIM115 - the child owns it
        self.workers[name] = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_workers_ready(self, timeout_s: float = 180) -> None:
        """Generous: on the shared 2-core machine under load a cold worker took 56 s to start."""
        deadline = time.monotonic() + timeout_s
        wanted = {f"{name}@test" for name in self.workers}
        while time.monotonic() < deadline:
            for name, proc in self.workers.items():
                assert proc.poll() is None, f"worker {name} exited:\n{self.worker_log(name)[-3000:]}"
            if wanted <= {w["name"] for w in self.store.workers()}:
                return
            time.sleep(0.2)
        raise AssertionError(f"workers not ready in {timeout_s}s: {wanted}")

    def worker_log(self, name: str) -> str:
        return (self.home / f"worker-{name}.log").read_text(errors="replace")

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker's whole process group (main process and its slots), like a lost node."""
        proc = self.workers.pop(name)
        os.killpg(proc.pid, 9)
        proc.wait(timeout=10)

    def start_run(self, job: str, *, tags: dict[str, str] | None = None) -> RunProcess:
        log = self.home / f"run-{job}-{len(self.runs)}.log"
        args = [
            sys.executable,
            str(HERE / "run_job.py"),
            job,
            json.dumps(self.run_config),
            json.dumps(tags or {}),
        ]
        with open(log, "ab") as out:
            proc = subprocess.Popen(args, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)  # fmt: skip
        run = RunProcess(proc, log)
        self.runs.append(run)
        return run

    def trace(self) -> list[dict[str, Any]]:
        if not self.trace_file.exists():
            return []
        return [json.loads(ln) for ln in self.trace_file.read_text().splitlines() if ln.strip()]

    def wait_trace(self, predicate: Any, timeout_s: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = [e for e in self.trace() if predicate(e)]
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"no trace entry matched in {timeout_s}s; trace: {self.trace()[-10:]}")

    def stop(self) -> None:
        for run in self.runs:
            stop_process_group(run.proc)
        for proc in self.workers.values():
            stop_process_group(proc, grace_s=3)


def make_home(tmp: Path, *, postgres: Any | None) -> tuple[Path, dict[str, str]]:
    home = tmp / "dagster_home"
    (home / "trace").mkdir(parents=True)
    instance: dict[str, Any] = {"telemetry": {"enabled": False}}
    env = {**os.environ, "DAGSTER_HOME": str(home), "DX_TRACE_DIR": str(home / "trace")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if postgres is not None:
        instance["storage"] = postgres.dagster_storage_config()
        env["DAGSTER_PG_PASSWORD"] = postgres.password
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance))
    # Create the schema once, before several processes race to.
    subprocess.run(
        [sys.executable, "-c", "from dagster import DagsterInstance; DagsterInstance.get().dispose()"],
        env=env, check=True, cwd=ROOT,
    )  # fmt: skip
    return home, env


def max_overlap(trace: list[dict[str, Any]]) -> int:
    """Most steps between their `start` and `end` at the same moment."""
    edges: list[tuple[float, int]] = []
    starts = {(e["run_id"], e["step"]): e["t"] for e in trace if e["event"] == "start"}
    for e in trace:
        if e["event"] in ("end", "interrupted") and (e["run_id"], e["step"]) in starts:
            edges += [(starts[(e["run_id"], e["step"])], 1), (e["t"], -1)]
    current = peak = 0
    for _, delta in sorted(edges, key=lambda x: (x[0], x[1])):  # an end before a start at the same t
        current += delta
        peak = max(peak, current)
    return peak


def iter_events(trace: list[dict[str, Any]], event: str) -> Iterator[dict[str, Any]]:
    return (e for e in trace if e["event"] == event)


# -- step_mode: k8s_job ----------------------------------------------------------------------------
def use_k8s_launcher(h: CeleryHarness, *, k8s_cluster: Any, namespace: str, pg_password: str) -> None:
    """Give the harness's instance our K8s run launcher pointed at the test namespace."""
    path = h.home / "dagster.yaml"
    instance = yaml.safe_load(path.read_text())
    launcher = default_launcher_config(
        namespace=namespace, kubeconfig_path=str(k8s_cluster.kubeconfig_path), home=h.home
    )
    instance["run_launcher"] = {"module": "dagster_ext.k8s", "class": "K8sRunLauncher", "config": launcher}
    path.write_text(yaml.safe_dump(instance))
    create_pg_secret(k8s_cluster.core_v1, namespace, pg_password)


def op_of(obj: Any) -> str | None:
    """The op a step K8s Job or pod runs (its `dagster/op` label)."""
    return (obj.metadata.labels or {}).get("dagster/op")


def run_events(h: CeleryHarness, run_id: str) -> list[Any]:
    """The run's event log records, read from the harness's instance."""
    from dagster import DagsterInstance

    os.environ["DAGSTER_PG_PASSWORD"] = h.env["DAGSTER_PG_PASSWORD"]
    with DagsterInstance.from_config(str(h.home)) as instance:
        return list(instance.all_logs(run_id))


def step_failure_message(h: CeleryHarness, run_id: str, step_key: str | None = None) -> str:
    for record in run_events(h, run_id):
        event = record.dagster_event
        if event is None or event.event_type_value != "STEP_FAILURE":
            continue
        if step_key is None or event.step_key == step_key:
            error = event.step_failure_data.error
            return error.message if error else ""
    raise AssertionError(f"no STEP_FAILURE event for {step_key or 'any step'}")
