"""Run a Dagster job holding a `k8s_job_op` in process against the test cluster, and read back
what it did: the run's events (where streamed log lines land) and the external K8s Jobs."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, JobDefinition, instance_for_test

from dagster_ext.testing.deployment import default_launcher_config
from dagster_ext.testing.waiting import wait_until_gone

EXTERNAL = "app.kubernetes.io/component=k8s_job"


def launcher_instance_overrides(namespace: str, kubeconfig: Path, home: Path) -> dict[str, Any]:
    """Our K8s run launcher in the instance, so the launcher layer (node selector, resources)
    reaches the external K8s Job even though the run itself executes in process."""
    config = default_launcher_config(namespace=namespace, kubeconfig_path=str(kubeconfig), home=home)
    return {"run_launcher": {"module": "dagster_ext.k8s", "class": "K8sRunLauncher", "config": config}}


@contextmanager
def dagster_instance(namespace: str, kubeconfig: Path, home: Path) -> Iterator[DagsterInstance]:
    with instance_for_test(overrides=launcher_instance_overrides(namespace, kubeconfig, home)) as instance:
        yield instance


def op_config(kubeconfig: Path, **keys: Any) -> dict[str, Any]:
    """A `k8s_job_op` config that reaches the test cluster from this process."""
    return {"load_incluster_config": False, "kubeconfig_file": str(kubeconfig), "image": "busybox", **keys}


@dataclass
class BackgroundRun:
    """`execute_in_process` on a thread, so the test can watch the run while the op waits."""

    thread: threading.Thread
    outcome: dict[str, Any] = field(default_factory=dict)

    def join(self, timeout_s: float) -> Any:
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), f"the run did not end within {timeout_s:.0f}s"
        if "error" in self.outcome:
            raise self.outcome["error"]
        return self.outcome["result"]


def run_in_background(
    dagster_job: JobDefinition, instance: DagsterInstance, run_config: Mapping[str, Any]
) -> BackgroundRun:
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = dagster_job.execute_in_process(
                run_config=dict(run_config), instance=instance, raise_on_error=False
            )
        except BaseException as err:
            outcome["error"] = err

    thread = threading.Thread(target=target, name="in-process-run", daemon=True)
    run = BackgroundRun(thread, outcome)
    thread.start()
    return run


def log_messages(instance: DagsterInstance) -> list[str]:
    """User log messages (`context.log`) of the instance's only run, in order."""
    runs = instance.get_runs(limit=1)
    if not runs:
        return []
    return [record.user_message for record in instance.all_logs(runs[0].run_id) if record.user_message]


def step_failure_text(result: Any) -> str:
    """The failure message of the failed step, with every cause (our error is a cause of
    Dagster's user-code error)."""
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.step_failure_data.error
            parts = []
            while error is not None:
                parts.append(error.message)
                error = error.cause
            return "\n".join(parts)
    raise AssertionError("no STEP_FAILURE event")


def external_k8s_jobs(k8s_cluster: Any, namespace: str) -> list[Any]:
    return list(k8s_cluster.batch_v1.list_namespaced_job(namespace, label_selector=EXTERNAL).items)


def external_pods(k8s_cluster: Any, namespace: str) -> list[Any]:
    return list(k8s_cluster.core_v1.list_namespaced_pod(namespace, label_selector=EXTERNAL).items)


def created_k8s_job_name(messages: list[str]) -> str:
    """The name in the op's "Created K8s Job <namespace>/<name>; ..." message."""
    (created,) = [m for m in messages if m.startswith("Created K8s Job ")]
    return created.removeprefix("Created K8s Job ").split(";")[0].split("/")[1]


def assert_created_k8s_job_deleted(k8s_cluster: Any, namespace: str, messages: list[str]) -> None:
    """The K8s Job the op reported creating is gone (and no other external K8s Job is left)."""
    name = created_k8s_job_name(messages)
    assert name.startswith("dagster-k8s-job-"), name
    wait_until_gone(
        lambda: k8s_cluster.batch_v1.read_namespaced_job(name, namespace), timeout_s=60, what=name
    )
    assert external_k8s_jobs(k8s_cluster, namespace) == []


def wait_for_running_pod(k8s_cluster: Any, namespace: str, *, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        running = [p for p in external_pods(k8s_cluster, namespace) if p.status.phase == "Running"]
        if running:
            return running[0]
        assert time.monotonic() < deadline, "the external pod never ran"
        time.sleep(0.2)


def interrupt_and_assert_k8s_job_deleted(
    k8s_cluster: Any, namespace: str, script: Path, tmp_path: Path
) -> None:
    """Run `script` (a Dagster run in a child process), SIGINT it once its external pod runs, and
    check the run failed and the running K8s Job was deleted, as a user's Ctrl-C would."""
    process = subprocess.Popen(
        [sys.executable, str(script), namespace, str(k8s_cluster.kubeconfig_path), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_running_pod(k8s_cluster, namespace, timeout_s=120)
        (k8s_job,) = external_k8s_jobs(k8s_cluster, namespace)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "RUN SUCCESS=False" in output, output[-3000:]
    assert f"Deleted K8s Job {namespace}/{k8s_job.metadata.name}" in output, output[-3000:]
    wait_until_gone(
        lambda: k8s_cluster.batch_v1.read_namespaced_job(k8s_job.metadata.name, namespace),
        timeout_s=60,
        what=k8s_job.metadata.name,
    )
