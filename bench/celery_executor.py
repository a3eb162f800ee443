"""Benchmark: our Celery-queue executor vs dagster_celery.celery_executor, in one run.

    python bench/celery_executor.py
    python bench/celery_executor.py --scenarios chain_20     # smoke run: prints JSON, writes nothing

One Redis, one PostgreSQL (run and event storage), one code location (`bench/celery_code_location.py`),
Dagster's default run launcher for every run: only the executor differs. Each Celery executor gets
one worker with 4 prefork slots, warmed by one small run before measuring. Per executor: a 20-step
serial chain (per-step latency; overhead per warm step against the same chain under Dagster's
in_process executor, measured in the same invocation) and 200 no-op steps behind 4 slots
(throughput, peak concurrency, slot utilisation), also with our worker's `--no-fetch-at-step-end`
(one message per slot), `--read-ahead 1` and `--read-ahead 1 --slot-nice 10`; the workers' CPU and
run-queue time come from schedstat. Both Celery workers import `bench/celery_slot_probe.py`, which
records each task's span in its slot process from Celery's own signals: one slot-utilisation
measure for both executors. Writes
`bench/results/celery_executor.json` and `docs/images/celery_bench.png`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import celery_report, schedstat  # noqa: E402
from bench.celery_code_location import CHAIN_LENGTH, FAN_OUT_STEPS, SCENARIOS, job_name  # noqa: E402
from bench.celery_measures import (  # noqa: E402
    chain_figures,
    fan_out_figures,
    handoff_figures,
    slot_occupancy,
    slot_task_figures,
)
from bench.celery_setup import SLOTS, CeleryBench, celery_bench  # noqa: E402
from bench.measures import Event  # noqa: E402
from bench.report import code_state  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "celery_executor.json"
PLOT = ROOT / "docs" / "images" / "celery_bench.png"
RUN_TIMEOUT_S = 600.0
EXECUTOR_ORDER = ("in_process", "ours", "ours_fetch_off", "ours_read_ahead", "ours_tuned", "peer")
MEASURED = ("chain_20", "fan_out_200")


def read_events(bench: CeleryBench, run_id: str) -> list[Event]:
    instance = bench.deployment.instance()
    try:
        return [
            Event(r.dagster_event.event_type.name, r.dagster_event.step_key, r.timestamp, r.message or "")
            for r in instance.all_logs(run_id)
            if r.dagster_event
        ]
    finally:
        instance.dispose()


def read_claim_log(bench: CeleryBench, run_id: str) -> list[dict[str, Any]]:
    from dagster_ext.celery.claims import open_claim_store

    return open_claim_store(str(bench.executor_config("ours")["broker"])).claim_log(run_id)


def run_job(bench: CeleryBench, scenario: str, executor: str) -> tuple[str, str, float]:
    """Launch through the default run launcher and wait; returns run id, status, wall seconds."""
    name = job_name(scenario, executor)
    started = time.monotonic()
    run_id = bench.deployment.launch(name, run_config=bench.run_config(executor))
    run = bench.deployment.wait_for_run(run_id, timeout_s=RUN_TIMEOUT_S)
    wall = time.monotonic() - started
    print(f"[bench] {name}: run {run_id} {run.status.value} in {wall:.1f}s", file=sys.stderr, flush=True)
    return run_id, run.status.value, wall


def read_slot_probe(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def measure_run(
    bench: CeleryBench, scenario: str, executor: str, worker_pid: int | None, *, slots: int = SLOTS
) -> dict[str, Any]:
    probe = bench.slot_probe_file(executor)
    probe.unlink(missing_ok=True)  # the workers append per task: this run's tasks only
    pids = schedstat.worker_pids(worker_pid) if worker_pid else []
    before = schedstat.sample(pids)
    run_id, status, wall = run_job(bench, scenario, executor)
    cpu = schedstat.delta(before, schedstat.sample(pids), main_pid=pids[0]) if pids else {}
    events = read_events(bench, run_id)
    if scenario == "chain_20":
        figures = chain_figures(events, [f"link_{i:02d}" for i in range(CHAIN_LENGTH)])
    else:
        figures = fan_out_figures(events, expected_steps=FAN_OUT_STEPS, slots=slots)
        if executor != "in_process":
            lines = read_slot_probe(probe)
            figures.update(slot_task_figures(lines, slots=slots), **handoff_figures(lines), **cpu)
        if executor.startswith("ours"):
            figures.update(slot_occupancy(read_claim_log(bench, run_id), slots=slots))
    return {
        "scenario": scenario,
        "executor": executor,
        "run_id": run_id,
        "status": status,
        "launch_to_done_wall_s": round(wall, 2),
        **figures,
    }


def measure_executor(
    bench: CeleryBench, executor: str, scenarios: list[str], *, slots: int = SLOTS
) -> list[dict[str, Any]]:
    wanted = [s for s in scenarios if executor in SCENARIOS[s][1]]
    if not wanted:
        return []
    with bench.workers(executor, slots=slots) as worker:
        if executor != "in_process":
            run_job(bench, "warmup", executor)
        pid = worker.pid if worker is not None else None
        return [measure_run(bench, scenario, executor, pid, slots=slots) for scenario in wanted]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=list(MEASURED),
        default=list(MEASURED),
        help="a subset is a smoke run: figures are printed as JSON, nothing is written",
    )
    parser.add_argument(
        "--executors",
        nargs="+",
        choices=list(EXECUTOR_ORDER),
        default=list(EXECUTOR_ORDER),
        help="a subset is a smoke run too",
    )
    parser.add_argument(
        "--event-poll-seconds",
        type=float,
        default=None,
        help="our executor's event_poll_seconds (default: the executor's own); a smoke run too",
    )
    parser.add_argument(
        "--slots",
        type=int,
        default=SLOTS,
        help=f"prefork slots per Celery worker (default {SLOTS}, the goal's cap); others are a smoke run",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="dagster-ext-bench-celery-") as tmp,
        celery_bench(Path(tmp)) as bench,
    ):
        code = code_state(ROOT)
        if args.event_poll_seconds is not None:
            bench.ours_extra["event_poll_seconds"] = args.event_poll_seconds
        runs = [
            run
            for executor in EXECUTOR_ORDER
            if executor in args.executors
            for run in measure_executor(bench, executor, args.scenarios, slots=args.slots)
        ]
    summary = celery_report.summarize(runs, code=code, wall_s=time.monotonic() - started)
    smoke = args.scenarios != list(MEASURED) or args.executors != list(EXECUTOR_ORDER) or args.slots != SLOTS
    if smoke or args.event_poll_seconds is not None:
        print(json.dumps(summary, indent=2))
        return 0
    celery_report.write_json(summary, RESULTS)
    celery_report.plot(summary, PLOT)
    print(celery_report.table(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
