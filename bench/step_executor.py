"""Benchmark: our K8s step executor vs dagster_k8s.k8s_job_executor, in one run.

    python bench/step_executor.py

One LocalCluster (a real node: pods are containers of the user-code image), one PostgreSQL, one code
location (`bench/code_location.py`), our K8s run launcher for every run: only the step executor
differs. `--repeat N` runs (default 5) per scenario and executor, interleaved; tables give the
median with min-max. For `process_numbers`, the cold-start breakdown of one step.
Per run: Kubernetes API requests per step (the executor's own, attributed by ServiceAccount + APF
FlowSchemas; every client's too), step-ready to K8s Job creation latency, failure-detection latency
(OOMKilled step), makespan. Writes
`bench/results/step_executor.json` and `docs/images/step_executor_bench.png`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import cluster_setup, cold_start, measures, report  # noqa: E402
from bench.apiserver_metrics import Snapshot, requests_in, scrape  # noqa: E402
from bench.code_location import EXECUTORS, SCENARIOS, job_name  # noqa: E402
from bench.observer import NamespaceObserver  # noqa: E402
from dagster_ext.k8s.client import ConnectionSettings, K8sGateway  # noqa: E402
from dagster_ext.testing import LocalCluster  # noqa: E402
from dagster_ext.testing.deployment import (  # noqa: E402
    HOME_VOLUME,
    CodeLocation,
    DagsterDeployment,
    dagster_deployment,
    default_launcher_config,
    home_volume,
)
from dagster_ext.testing.services import postgres_server  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "step_executor.json"
STEP_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
COLD_START_STEP = ("filter_even_numbers", ("generate_numbers",), ("sum_even_numbers",))
PLOT = ROOT / "docs" / "images" / "step_executor_bench.png"
IDLE_BASELINE_S = 30.0
SETTLE_S = 3.0  # after the last pod ends: watches closed, counters updated
RUN_TIMEOUT_S = 900.0


@dataclass
class Bench:
    api_client: Any
    namespace: str
    deployment: DagsterDeployment
    observer: NamespaceObserver
    executor_kubeconfig: Path
    idle_rate_per_s: float = 0.0


def executor_run_config(bench: Bench, executor: str) -> dict[str, Any]:
    """The same executor config for both. Each runs in the run pod, in-cluster, as the run pod's
    ServiceAccount: the executor's own identity, so the API server attributes its requests. Both
    get the same step resources and the shared `$DAGSTER_HOME` volume explicitly: dagster-k8s's
    executor takes nothing from a run launcher that is not its own."""
    home = bench.deployment.home
    config = {
        "load_incluster_config": True,
        "job_namespace": bench.namespace,
        "service_account_name": cluster_setup.EXECUTOR_SA,
        "volumes": [home_volume(home)],
        "volume_mounts": [{"name": HOME_VOLUME, "mountPath": str(home)}],
        "step_k8s_config": {"container_config": {"resources": STEP_RESOURCES}},
    }
    if executor == "ours":
        # a step pod waiting for CPU behind a backlog is not a failure here (dagster-k8s waits for
        # ever); our default is to fail it after 60 s unschedulable
        config["failure_grace_seconds"] = {"unschedulable": 900}
    return {"execution": {"config": config}}


def measure_idle(bench: Bench, seconds: float) -> dict[str, Any]:
    before = scrape(bench.api_client)
    time.sleep(seconds)
    window = requests_in(scrape(bench.api_client).minus(before))
    bench.idle_rate_per_s = window.all_clients_total / seconds
    return {
        "seconds": seconds,
        "all_clients": window.all_clients_total,
        "executor": window.executor_total,
        "all_clients_by_kind": dict(window.all_clients),
    }


def upstream_of(name: str) -> dict[str, list[str]]:
    from dagster._core.execution.api import create_execution_plan

    from bench.code_location import defs

    plan = create_execution_plan(defs.resolve_job_def(name))
    return {
        key: sorted(plan.get_executable_step_by_key(key).get_execution_dependency_keys())
        for key in plan.step_keys_to_execute
    }


def read_events(deployment: DagsterDeployment, run_id: str) -> list[measures.Event]:
    instance = deployment.instance()
    try:
        return [_event(record) for record in instance.all_logs(run_id) if record.dagster_event]
    finally:
        instance.dispose()


def _event(record: Any) -> measures.Event:
    event = record.dagster_event
    message = record.message or ""
    if event.event_type.name == "STEP_FAILURE" and event.step_failure_data.error:
        message = event.step_failure_data.error.message
    return measures.Event(event.event_type.name, event.step_key, record.timestamp, message)


def clear_namespace(bench: Bench) -> None:
    cluster_setup.delete_all_k8s_jobs(bench.api_client, bench.namespace)
    if not bench.observer.wait_until(bench.observer.empty, timeout_s=120):
        raise TimeoutError("K8s Jobs/pods of the previous run were not deleted")
    time.sleep(SETTLE_S)


def step_k8s_job(run_id: str, step_key: str) -> str:
    from dagster_k8s.job import get_k8s_job_name

    return f"dagster-step-{get_k8s_job_name(run_id, step_key)}"


def measure_run(bench: Bench, scenario: str, executor: str) -> dict[str, Any]:
    clear_namespace(bench)
    name = job_name(scenario, executor)
    before, started = scrape(bench.api_client), time.monotonic()
    run_id = bench.deployment.launch(name, run_config=executor_run_config(bench, executor))
    print(f"[bench] {name}: run {run_id}", file=sys.stderr, flush=True)
    run = bench.deployment.wait_for_run(run_id, timeout_s=RUN_TIMEOUT_S)
    bench.observer.wait_until(lambda: bench.observer.run_pods_done(run_id), timeout_s=120)
    time.sleep(SETTLE_S)
    window, window_s = scrape(bench.api_client).minus(before), time.monotonic() - started
    return figures(
        bench,
        scenario=scenario,
        executor=executor,
        run_id=run_id,
        status=run.status.value,
        window=window,
        window_s=window_s,
    )


def figures(
    bench: Bench,
    *,
    scenario: str,
    executor: str,
    run_id: str,
    status: str,
    window: Snapshot,
    window_s: float,
) -> dict[str, Any]:
    events = read_events(bench.deployment, run_id)
    upstream = upstream_of(job_name(scenario, executor))

    def created_at(step: str) -> float | None:
        return bench.observer.job_added_at(step_k8s_job(run_id, step))

    steps = sum(1 for step in upstream if created_at(step) is not None)
    breakdown = None
    if scenario == "process_numbers":
        step, ups, downs = COLD_START_STEP
        breakdown = cold_start.breakdown(
            events,
            step=step,
            upstream=ups,
            downstream=downs,
            k8s_job_added=created_at(step),
            milestones=bench.observer.milestones_of(step_k8s_job(run_id, step)),
        )
    failure = None
    if scenario == "oom":
        pod_end = bench.observer.pod_end_of(step_k8s_job(run_id, "oom_step"))
        failure = measures.failure_detection(events, pod_end)
    return report.run_record(
        scenario=scenario,
        executor=executor,
        run_id=run_id,
        status=status,
        steps=steps,
        requests=requests_in(window),
        window_s=window_s,
        idle_rate_per_s=bench.idle_rate_per_s,
        makespan_s=measures.makespan_s(events),
        ready=measures.ready_to_create(events, upstream, created_at),
        launch=measures.launch_to_create(events, created_at),
        failure=failure,
    ) | ({"cold_start": breakdown} if breakdown else {})


@contextmanager
def bench_environment(work_dir: Path) -> Iterator[Bench]:
    from kubernetes import config

    with LocalCluster() as cluster, postgres_server() as postgres:
        api_client = config.new_client_from_config(str(cluster.kubeconfig_path))
        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        cluster_setup.create_namespace(api_client, namespace)
        kubeconfig = cluster_setup.create_executor_identity(
            api_client,
            namespace=namespace,
            server=cluster.server_url,
            ca_cert=cluster.ca_cert_path,
            directory=work_dir,
        )
        cluster_setup.create_flow_schemas(api_client, namespace=namespace)
        location = CodeLocation(
            python_file=str(ROOT / "bench" / "code_location.py"), working_directory=str(ROOT), name="bench"
        )
        from kubernetes import client

        home = work_dir / "dagster_home"
        launcher = default_launcher_config(
            namespace=namespace, kubeconfig_path=str(cluster.kubeconfig_path), home=home
        )
        launcher["service_account_name"] = cluster_setup.EXECUTOR_SA  # the run pods' identity
        with dagster_deployment(
            postgres=postgres,
            namespace=namespace,
            kubeconfig_path=str(cluster.kubeconfig_path),
            core_v1=client.CoreV1Api(api_client),
            location=location,
            launcher_config=launcher,
            home=home,
        ) as deployment:
            cluster_setup.create_instance_config_map(
                api_client, namespace=namespace, dagster_yaml=deployment.home / "dagster.yaml"
            )
            gateway = K8sGateway(ConnectionSettings(kubeconfig_file=str(cluster.kubeconfig_path)))
            observer = NamespaceObserver(gateway, namespace).start()
            try:
                yield Bench(api_client, namespace, deployment, observer, kubeconfig)
            finally:
                observer.stop()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=list(SCENARIOS),
        default=list(SCENARIOS),
        help="a subset is a smoke run: figures are printed as JSON, nothing is written",
    )
    parser.add_argument("--idle-seconds", type=float, default=IDLE_BASELINE_S)
    parser.add_argument(
        "--repeat", type=int, default=5, help="runs per scenario and executor, interleaved (default 5)"
    )
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help=f"where the results JSON goes (default {RESULTS})"
    )
    parser.add_argument(
        "--write", action="store_true", help="write the results and the plot for a subset of scenarios too"
    )
    parser.add_argument(
        "--report", type=Path, default=None, help="print the tables of a results JSON (no runs)"
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.report is not None:
        summary = json.loads(args.report.read_text())
        print(report.table(summary))
        print()
        print(report.cold_start_table(summary))
        return 0
    with (
        tempfile.TemporaryDirectory(prefix="dagster-ext-bench-") as tmp,
        bench_environment(Path(tmp)) as bench,
    ):
        code = report.code_state(ROOT)
        idle = measure_idle(bench, args.idle_seconds)
        runs: list[dict[str, Any]] = []
        partial = args.results.with_suffix(".partial.json")
        for rep in range(args.repeat):  # interleaved; the executor that goes first alternates
            order = list(EXECUTORS) if rep % 2 == 0 else list(reversed(EXECUTORS))
            for scenario in args.scenarios:
                for executor in order:
                    runs.append(measure_run(bench, scenario, executor))
                    # kept as it goes: an interrupted bench still leaves what it measured
                    report.write_json(report.summarize(runs, idle=idle, code=code), partial)
    summary = report.summarize(runs, idle=idle, code=code)
    if args.scenarios != list(SCENARIOS) and not args.write:
        print(json.dumps(summary["runs"], indent=2))
        return 0
    report.write_json(summary, args.results)
    report.plot(summary, PLOT if args.results == RESULTS else args.results.with_suffix(".png"))
    print(report.table(summary))
    print()
    print(report.cold_start_table(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
