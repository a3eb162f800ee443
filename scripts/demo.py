"""README's main command: the seed's example workflows through dagster-ext, on a real local
Kubernetes control plane with PostgreSQL storage.

1. `dagster-ext render` shows the seed step pod and which layer set each field.
2. `process_numbers` runs in one K8s Job through our K8s run launcher (multiprocess executor).
3. `process_numbers_k8s` and `process_numbers_asset_k8s` run each op/asset in its own K8s Job
   (our step executor; step pods inherit the run pod's spec and the job-level tags).
4. `process_numbers_celery` runs its ops on a warm Celery worker through the embedded broker.
5. `process_words_k8s_job` (seed Code 4) starts external K8s Jobs with `k8s_job_op` and
   `execute_k8s_job`; their output (HELLO, GOODBYE) streams into the run's logs.
Each prints its result (55, or the streamed words) and the K8s Jobs it created, like
`kubectl get job`.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dagster_ext.testing import LocalCluster  # noqa: E402
from dagster_ext.testing._procs import stop_process_group  # noqa: E402
from dagster_ext.testing.deployment import LOCAL_IMAGE, CodeLocation, dagster_deployment  # noqa: E402
from dagster_ext.testing.services import postgres_server  # noqa: E402

NAMESPACE = "dagster"
LOCATION = CodeLocation(
    python_file=str(ROOT / "examples" / "definitions.py"),
    working_directory=str(ROOT),
    name="dagster-workflows",
    container_context={"k8s": {"env": [{"name": "USER", "value": "ssup2"}]}},
)


def banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def render() -> None:
    banner("dagster-ext render: the generate_numbers step pod, each field with its layer")
    instance_yaml = ROOT / "examples" / "instance" / "dagster.yaml"
    cmd = [sys.executable, "-m", "dagster_ext.cli", "render", "-f", str(ROOT / "examples" / "definitions.py")]
    cmd += ["--job", "process_numbers_k8s", "--op", "generate_numbers", "--instance", str(instance_yaml)]
    cmd += ["--image", LOCAL_IMAGE]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    keep = ("nodeSelector", "node-group", "limits", "requests", "cpu", "memory", "kind:", "name: dagster-")
    for line in out.splitlines():
        if any(k in line for k in keep):
            print(line)


def show_k8s_jobs(batch: Any, run_id: str) -> None:
    """The run's K8s Jobs, once they have ended (real pods take a few seconds to exit after the run's
    last event), or after 60 s with what they are then."""
    selector = f"dagster/run-id={run_id}"
    deadline = time.monotonic() + 60
    jobs = batch.list_namespaced_job(NAMESPACE, label_selector=selector).items
    while time.monotonic() < deadline and any(not (j.status.succeeded or j.status.failed) for j in jobs):
        time.sleep(1)
        jobs = batch.list_namespaced_job(NAMESPACE, label_selector=selector).items
    print(f"{'NAME':<52} {'COMPONENT':<12} {'STATUS':<9} DURATION")
    for job in sorted(jobs, key=lambda j: j.metadata.creation_timestamp):
        status = "Complete" if job.status.succeeded else ("Failed" if job.status.failed else "Running")
        start, end = job.status.start_time, job.status.completion_time
        duration = f"{(end - start).total_seconds():.0f}s" if start and end else "-"
        component = job.metadata.labels.get("app.kubernetes.io/component", "")
        print(f"{job.metadata.name:<52} {component:<12} {status:<9} {duration}")


def run_job(deployment: Any, batch: Any, job: str, result_path: str) -> bool:
    banner(f"{job}")
    started = time.monotonic()
    run_id = deployment.launch(job)
    run = deployment.wait_for_run(run_id, timeout_s=600)
    took = time.monotonic() - started
    ok = run.status.value == "SUCCESS"
    value = None
    result = deployment.home / "storage" / result_path.format(run_id=run_id)
    if ok and result.exists():
        value = pickle.loads(result.read_bytes())
    print(f"run {run_id}: {run.status.value} in {took:.0f}s, result = {value}")
    show_k8s_jobs(batch, run_id)
    return ok and value == 55


def run_words_job(deployment: Any, batch: Any) -> bool:
    banner("process_words_k8s_job")
    started = time.monotonic()
    run_id = deployment.launch("process_words_k8s_job")
    run = deployment.wait_for_run(run_id, timeout_s=600)
    words = [w for w in ("HELLO", "GOODBYE") if any(w in m for m in deployment.event_messages(run_id))]
    print(f"run {run_id}: {run.status.value} in {time.monotonic() - started:.0f}s, streamed: {words}")
    show_k8s_jobs(batch, run_id)
    return run.status.value == "SUCCESS" and words == ["HELLO", "GOODBYE"]


def main() -> int:
    render()
    from kubernetes import client, config

    banner("starting a local Kubernetes cluster (control plane and a real node) and PostgreSQL")
    with LocalCluster() as cluster, postgres_server() as postgres:
        api = config.new_client_from_config(config_file=str(cluster.kubeconfig_path))
        core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
        while not core.list_namespaced_service_account(NAMESPACE).items:
            time.sleep(0.2)
        with dagster_deployment(
            postgres=postgres,
            namespace=NAMESPACE,
            kubeconfig_path=str(cluster.kubeconfig_path),
            core_v1=core,
            rbac_v1=client.RbacAuthorizationV1Api(api),
            location=LOCATION,
        ) as deployment:
            worker = subprocess.Popen(
                [sys.executable, "-m", "dagster_ext.cli", "celery", "worker", "-c", "2", "-n", "demo@local"],
                env=deployment.env,
                cwd=ROOT,
                stdout=open(deployment.home / "worker.log", "ab"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                results = [
                    run_job(deployment, batch, "process_numbers", "{run_id}/sum_two_sums/result"),
                    run_job(deployment, batch, "process_numbers_k8s", "{run_id}/sum_two_sums/result"),
                    run_job(deployment, batch, "process_numbers_asset_k8s", "examples/summed_two_sums"),
                    run_job(deployment, batch, "process_numbers_celery", "{run_id}/sum_two_sums/result"),
                    run_words_job(deployment, batch),
                ]
            finally:
                stop_process_group(worker)
        api.close()
    banner("summary")
    ok = "all example workflows succeeded (55 four times; HELLO and GOODBYE streamed)"
    print(ok if all(results) else f"FAILED: {results}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
