"""Soak: many runs of the example jobs back to back under random faults, on the real local node.

One LocalCluster, one PostgreSQL, the test code location, our K8sRunLauncher and a daemon with run
monitoring (`max_resume_run_attempts: 1`). Runs alternate between the launcher + multiprocess
executor (`process_numbers`) and the K8s step executor (`process_numbers_k8s`), `--concurrency`
in flight. Faults are injected one at a time at random moments (seeded RNG, seed printed). After
each run: its step count, steps run twice, and its K8s Jobs/pods still active (orphans).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import cluster_setup  # noqa: E402
from bench.apiserver_metrics import scrape  # noqa: E402
from dagster_ext.testing import LocalCluster  # noqa: E402
from dagster_ext.testing.deployment import DagsterDeployment, dagster_deployment  # noqa: E402
from dagster_ext.testing.services import PostgresServer, postgres_server  # noqa: E402
from tests.integration.faults.test_run_worker_faults import _kill_run_worker  # noqa: E402
from tests.integration.step_executor.test_step_executor import location  # noqa: E402
from tests.integration.step_jobs import step_pods  # noqa: E402

T = TypeVar("T")
RESULTS = ROOT / "bench" / "results" / "soak.json"
EXECUTORS = {"multiprocess": "process_numbers", "k8s": "process_numbers_k8s"}
FAULTS = ("apiserver", "kubelet", "containerd", "postgres", "step_pod_delete", "run_worker_kill")
FAULT_SHARE = 0.35  # share of runs that get a fault aimed at them
RUN_TIMEOUT_S = 600.0
RETRY_S = 90.0
SETTLE_S = 10.0  # after a run ends: its pods exit, the Job controller marks its Jobs


@dataclass
class RunRecord:
    index: int
    executor: str
    run_id: str = ""
    status: str = "NOT_LAUNCHED"
    reason: str = ""
    start: float = 0.0
    end: float = 0.0
    steps: int = 0
    steps_twice: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    fault: str = ""


@dataclass
class FaultRecord:
    kind: str
    start: float
    end: float
    target_run: int
    injected: bool
    note: str = ""


@dataclass
class Soak:
    cluster: LocalCluster
    postgres: PostgresServer
    deployment: DagsterDeployment
    api_client: Any
    namespace: str
    rng: random.Random
    fault_lock: threading.Lock = field(default_factory=threading.Lock)
    metrics_lock: threading.Lock = field(default_factory=threading.Lock)
    requests: float = 0.0
    last_total: float = 0.0
    faults: list[FaultRecord] = field(default_factory=list)

    def api(self, kind: str) -> Any:
        from kubernetes import client

        return getattr(client, kind)(self.api_client)

    def _total(self) -> float:
        return float(sum(_retrying(lambda: scrape(self.api_client)).all_requests.values()))

    def count_requests(self) -> None:
        """Add apiserver_request_total's growth since the last scrape (it restarts at 0 with the server)."""
        with self.metrics_lock:
            now = self._total()
            self.requests += max(0.0, now - self.last_total)
            self.last_total = now

    def reset_baseline(self) -> None:
        with self.metrics_lock:
            self.last_total = self._total()


def _retrying(action: Callable[[], T]) -> T:
    """The bench's own reads retried for a while: a fault of another run may be under way."""
    deadline = time.monotonic() + RETRY_S
    while True:
        try:
            return action()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(2.0)


def _terminal_reason(deployment: DagsterDeployment, run_id: str) -> tuple[Counter[str], str, int]:
    """STEP_START count per step, a failure reason name, and the number of steps."""
    instance = deployment.instance()
    try:
        records = instance.all_logs(run_id)
    finally:
        instance.dispose()
    starts: Counter[str] = Counter()
    texts: list[str] = []
    for r in records:
        event = r.dagster_event
        if event is not None and event.event_type_value == "STEP_START":
            starts[event.step_key or ""] += 1
        texts.append(r.message or "")
        if event is not None and event.event_type_value == "STEP_FAILURE":
            error = getattr(event.event_specific_data, "error", None)
            texts.append(str(getattr(error, "message", "")))
    reason = _reason_name(texts)
    return starts, reason, len(starts)


REASONS = ("PodDeleted", "SIGKILL", "OOMKilled", "BackoffLimitExceeded", "DeadlineExceeded", "Evicted")


def _reason_name(texts: list[str]) -> str:
    """The reason name the run's events give (`PodDeleted`, `SIGKILL`, ...), else "unnamed"."""
    for token in REASONS:
        if any(token in text for text in texts):
            return token
    return "unnamed"


def _active_objects(soak: Soak, run_id: str) -> list[str]:
    """The run's K8s Jobs not finished and pods not ended: orphans once the run is over."""
    selector = f"dagster/run-id={run_id}" if run_id else "dagster/run-id"
    left = []
    for k8s_job in soak.api("BatchV1Api").list_namespaced_job(soak.namespace, label_selector=selector).items:
        conditions = {c.type for c in (k8s_job.status.conditions or []) if c.status == "True"}
        if not conditions & {"Complete", "Failed"}:
            left.append(f"job/{k8s_job.metadata.name}")
    for pod in soak.api("CoreV1Api").list_namespaced_pod(soak.namespace, label_selector=selector).items:
        if pod.status.phase in ("Pending", "Running", "Unknown"):
            left.append(f"pod/{pod.metadata.name}")
    return left


def _wait_step_pod_running(soak: Soak, run_id: str, timeout_s: float) -> str | None:
    cluster = _ClusterView(soak)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        running = [p for p in step_pods(cluster, soak.namespace, run_id) if p.status.phase == "Running"]
        if running:
            return str(running[0].metadata.name)
        time.sleep(0.5)
    return None


@dataclass
class _ClusterView:
    """What tests/integration/step_jobs.py needs of a cluster fixture."""

    soak: Soak

    @property
    def core_v1(self) -> Any:
        return self.soak.api("CoreV1Api")

    @property
    def batch_v1(self) -> Any:
        return self.soak.api("BatchV1Api")


def inject(soak: Soak, kind: str, record: RunRecord) -> FaultRecord:
    """One fault aimed at `record`'s run (cluster-wide faults hit every run in flight)."""
    actions: dict[str, Callable[[], str]] = {
        "apiserver": lambda: _restart_apiserver(soak),
        "kubelet": lambda: _restart(soak, "kubelet"),
        "containerd": lambda: _restart(soak, "containerd"),
        "postgres": lambda: _call(soak.postgres.restart, down_s=2.0),
        "step_pod_delete": lambda: _delete_step_pod(soak, record.run_id),
        "run_worker_kill": lambda: _call(_kill_run_worker, record.run_id),
    }
    with soak.fault_lock:
        start = time.time()
        try:
            note, injected = actions[kind](), True
        except (AssertionError, Exception) as err:
            note, injected = f"not injected: {type(err).__name__}: {err}"[:200], False
        fault = FaultRecord(kind, start, time.time(), record.index, injected and not note, note)
        soak.faults.append(fault)
        return fault


def _call(action: Callable[..., None], *args: Any, **kwargs: Any) -> str:
    action(*args, **kwargs)
    return ""


def _restart_apiserver(soak: Soak) -> str:
    soak.count_requests()
    soak.cluster.restart_apiserver(down_s=3.0)
    soak.reset_baseline()
    return ""


def _restart(soak: Soak, component: str) -> str:
    soak.cluster.restart_component(component, down_s=3.0)
    return ""


def _delete_step_pod(soak: Soak, run_id: str) -> str:
    name = _wait_step_pod_running(soak, run_id, timeout_s=120)
    if name is None:
        return "not injected: no running step pod"
    soak.api("CoreV1Api").delete_namespaced_pod(name, soak.namespace)
    return ""


def _fault_plan(rng: random.Random, runs: list[RunRecord], kinds: list[str]) -> None:
    """Every kind at least once, then FAULT_SHARE of the runs; pod deletion only on K8s-executor runs."""
    count = max(len(kinds), round(len(runs) * FAULT_SHARE))
    order = [kinds[i % len(kinds)] for i in range(count)]
    free = list(runs)
    rng.shuffle(free)
    for kind in order:
        pick = next((r for r in free if kind != "step_pod_delete" or r.executor == "k8s"), None)
        if pick is None:
            continue
        pick.fault = kind
        free.remove(pick)


def _one_run(soak: Soak, record: RunRecord, delay_s: float) -> RunRecord:
    job = EXECUTORS[record.executor]
    record.start = time.time()
    try:
        record.run_id = soak.deployment.launch(job)
    except Exception as err:
        record.status, record.reason, record.end = "LAUNCH_FAILED", type(err).__name__, time.time()
        return record
    if record.fault:
        time.sleep(delay_s)
        inject(soak, record.fault, record)
    try:
        run = soak.deployment.wait_for_run(record.run_id, timeout_s=RUN_TIMEOUT_S)
        record.status = str(run.status.value)
    except Exception as err:
        record.status, record.reason = "LOST", type(err).__name__
    record.end = time.time()
    starts, reason, record.steps = _retrying(lambda: _terminal_reason(soak.deployment, record.run_id))
    record.steps_twice = sorted(k for k, n in starts.items() if n > 1)
    record.steps_twice += _retrying(lambda: _k8s_jobs_twice(soak, record.run_id))
    if record.status != "SUCCESS" and not record.reason:
        record.reason = reason or record.status
    time.sleep(SETTLE_S)
    try:
        record.orphans = _retrying(lambda: _active_objects(soak, record.run_id))
        soak.count_requests()
    except Exception as err:
        record.orphans = [f"unknown: the API server did not answer ({type(err).__name__})"]
    return record


def _k8s_jobs_twice(soak: Soak, run_id: str) -> list[str]:
    selector = f"dagster/run-id={run_id},app.kubernetes.io/component=step_worker"
    k8s_jobs = soak.api("BatchV1Api").list_namespaced_job(soak.namespace, label_selector=selector).items
    per_op = Counter(j.metadata.labels.get("dagster/op", "") for j in k8s_jobs)
    return sorted(f"k8s_job:{op}" for op, n in per_op.items() if n > 1)


def run_soak(args: argparse.Namespace, work_dir: Path) -> dict[str, Any]:
    from kubernetes import config

    rng = random.Random(args.seed)
    runs = [RunRecord(i, list(EXECUTORS)[i % len(EXECUTORS)]) for i in range(args.runs)]
    _fault_plan(rng, runs, list(args.faults))
    delays = [rng.uniform(2.0, 25.0) for _ in runs]
    with LocalCluster() as cluster, postgres_server() as postgres:
        api_client = config.new_client_from_config(str(cluster.kubeconfig_path))
        namespace = f"soak-{uuid.uuid4().hex[:6]}"
        cluster_setup.create_namespace(api_client, namespace)
        from kubernetes import client

        with dagster_deployment(
            postgres=postgres,
            namespace=namespace,
            kubeconfig_path=str(cluster.kubeconfig_path),
            core_v1=client.CoreV1Api(api_client),
            rbac_v1=client.RbacAuthorizationV1Api(api_client),
            location=location(),
            daemon=True,
            monitoring={"max_resume_run_attempts": 1},
            home=work_dir / "dagster_home",
        ) as deployment:
            soak = Soak(cluster, postgres, deployment, api_client, namespace, rng)
            soak.reset_baseline()
            began = time.time()
            with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                futures = [pool.submit(_one_run, soak, r, d) for r, d in zip(runs, delays, strict=True)]
                for future in futures:
                    r = future.result()
                    print(
                        f"run {r.index} {r.executor} {r.run_id} {r.status} {r.reason} fault={r.fault}",
                        flush=True,
                    )
                # Still inside the pool: a component a fault restarted was spawned by a pool thread
                # and gets SIGKILL when that thread ends (setpriv --pdeathsig follows the thread).
                try:
                    soak.count_requests()
                    final_orphans = _retrying(lambda: _active_objects(soak, ""))
                except Exception as err:
                    final_orphans = [f"unknown: the API server did not answer ({type(err).__name__})"]
            return summarize(args, runs, soak, final_orphans, time.time() - began)


def summarize(
    args: argparse.Namespace, runs: list[RunRecord], soak: Soak, final_orphans: list[str], wall_s: float
) -> dict[str, Any]:
    total_steps = sum(r.steps for r in runs)
    per_executor = {}
    for name in EXECUTORS:
        mine = [r for r in runs if r.executor == name]
        walls = sorted(r.end - r.start for r in mine if r.end)
        per_executor[name] = {
            "runs": len(mine),
            "succeeded": sum(r.status == "SUCCESS" for r in mine),
            "failed": len(mine) - sum(r.status == "SUCCESS" for r in mine),
            "failure_reasons": dict(Counter(r.reason for r in mine if r.status != "SUCCESS")),
            "steps": sum(r.steps for r in mine),
            "steps_run_twice": sum(len(r.steps_twice) for r in mine),
            "orphans_after_runs": sum(len(r.orphans) for r in mine),
            "wall_median_s": round(statistics.median(walls), 1) if walls else None,
            "wall_p90_s": round(walls[min(len(walls) - 1, int(0.9 * len(walls)))], 1) if walls else None,
        }
    per_fault = {}
    for kind in args.faults:
        of_kind = [f for f in soak.faults if f.kind == kind]
        hit = {r.index for r in runs for f in of_kind if f.injected and r.start <= f.end and f.start <= r.end}
        per_fault[kind] = {
            "planned": len(of_kind),
            "injected": sum(f.injected for f in of_kind),
            "runs_overlapped": len(hit),
        }
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "runs": args.runs,
        "seed": args.seed,
        "concurrency": args.concurrency,
        "wall_s": round(wall_s, 1),
        "executors": per_executor,
        "faults": per_fault,
        "fault_log": [asdict(f) for f in soak.faults],
        "api_requests_all_clients": soak.requests,
        "api_requests_per_step": round(soak.requests / total_steps, 1) if total_steps else None,
        "orphans_after_soak": final_orphans,
        "problem_runs": [asdict(r) for r in runs if r.status != "SUCCESS" or r.steps_twice or r.orphans],
    }


def table(result: dict[str, Any]) -> str:
    head = (
        "| executor | runs | succeeded | failed (reasons) | steps | steps run twice "
        "| orphans after run | run wall median / p90 |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for name, e in result["executors"].items():
        reasons = ", ".join(f"{k} x{v}" for k, v in e["failure_reasons"].items()) or "-"
        lines.append(
            f"| {name} | {e['runs']} | {e['succeeded']} | {e['failed']} ({reasons}) | {e['steps']} | "
            f"{e['steps_run_twice']} | {e['orphans_after_runs']} | "
            f"{e['wall_median_s']} s / {e['wall_p90_s']} s |"
        )
    lines += ["", "| fault | injected (planned) | runs overlapping one |", "|---|---|---|"]
    lines += [
        f"| {k} | {f['injected']} ({f['planned']}) | {f['runs_overlapped']} |"
        for k, f in result["faults"].items()
    ]
    lines += [
        "",
        f"Orphaned K8s Jobs/pods after the soak: {len(result['orphans_after_soak'])}; "
        f"API requests per step (all clients): {result['api_requests_per_step']}; "
        f"N={result['runs']}, seed={result['seed']}, concurrency={result['concurrency']}, "
        f"wall {result['wall_s']} s, {result['date']}",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=None, help="default: random (printed)")
    parser.add_argument("--concurrency", type=int, default=2, help="runs in flight")
    parser.add_argument("--faults", nargs="*", choices=FAULTS, default=list(FAULTS))
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1_000_000)
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    print(f"soak: runs={args.runs} seed={args.seed} concurrency={args.concurrency}", flush=True)
    with tempfile.TemporaryDirectory(prefix="dagster-ext-soak-") as work:
        result = run_soak(args, Path(work))
    print(table(result))
    print(json.dumps(result["problem_runs"], indent=1)[:6000])
    if args.write:
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
