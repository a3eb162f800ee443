"""Summaries of the bench runs: the JSON record, the console table and the plot."""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.apiserver_metrics import Requests
from bench.measures import FailureDetection, Latencies

GOAL_REQUESTS_PER_STEP = 1.2
GOAL_RATIO = 3.0
GOAL_FAILURE_S = 3.0
LABELS = {"fan_out_50": "50-step fan-out", "process_numbers": "process_numbers (6 steps)", "oom": "OOM step"}


def _latencies(values: Latencies) -> dict[str, Any]:
    return {"n": len(values.values), "median_s": values.median, "p95_s": values.p95, "max_s": values.max}


def run_record(
    *,
    scenario: str,
    executor: str,
    run_id: str,
    status: str,
    steps: int,
    requests: Requests,
    window_s: float,
    idle_rate_per_s: float,
    makespan_s: float | None,
    ready: Latencies,
    launch: Latencies,
    failure: FailureDetection | None,
) -> dict[str, Any]:
    all_minus_idle = requests.all_clients_total - idle_rate_per_s * window_s
    return {
        "scenario": scenario,
        "executor": executor,
        "run_id": run_id,
        "status": status,
        "steps": steps,
        "window_s": round(window_s, 2),
        "executor_requests": requests.executor_total,
        "executor_requests_per_step": requests.executor_total / steps if steps else None,
        "executor_requests_by_kind": dict(requests.executor.most_common()),
        "all_client_requests": requests.all_clients_total,
        "all_client_requests_minus_idle_per_step": all_minus_idle / steps if steps else None,
        "all_client_requests_by_kind": dict(requests.all_clients.most_common()),
        "makespan_s": makespan_s,
        "ready_to_create": _latencies(ready),
        "launch_event_to_create": _latencies(launch),
        "failure_detection": asdict(failure) if failure else None,
    }


def _machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in cpuinfo.read_text().splitlines()
                if ln.startswith("model name")
            ),
            "",
        )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "load_average_at_end": os.getloadavg(),
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("dagster", "dagster-k8s", "kubernetes")}


def code_state(root: Path) -> dict[str, Any]:
    """The commit measured, and the files of the package that differed from it (shared work tree)."""
    import subprocess

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return result.stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "uncommitted": git("status", "--short", "dagster_ext").splitlines(),
    }


def summarize(
    runs: Sequence[dict[str, Any]], *, idle: dict[str, Any], code: dict[str, Any]
) -> dict[str, Any]:
    return {
        "machine": _machine(),
        "code": code,
        "versions": _versions(),
        "method": {
            "executor_requests": "apiserver_flowcontrol_dispatched_requests_total of FlowSchemas matching "
            "the executor's dedicated ServiceAccount (one per verb/resource), plus apiserver_request_total"
            " for pods/log (not seen by APF); apiserver_request_total has no per-client label",
            "all_client_requests": "apiserver_request_total delta over the run window (kubelet, "
            "controller-manager, run launcher, bench watches), idle baseline rate subtracted",
            "ready_to_create": "last upstream STEP_SUCCESS event -> K8s Job ADDED seen by a watch",
            "failure_detection": "OOMKilled pod end (watch-observed; and finishedAt, 1 s resolution) -> "
            "STEP_FAILURE event",
            "makespan": "RUN_START -> RUN_SUCCESS (RUN_FAILURE for the OOM job)",
        },
        "idle_baseline": idle,
        "goals": {
            "requests_per_step_max": GOAL_REQUESTS_PER_STEP,
            "fewer_than_dagster_k8s_min_ratio": GOAL_RATIO,
            "failure_reason_max_s": GOAL_FAILURE_S,
        },
        "runs": list(runs),
    }


def write_json(summary: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n")


# -- table -------------------------------------------------------------------------------------
def _runs(summary: dict[str, Any], scenario: str, executor: str) -> list[dict[str, Any]]:
    return [r for r in summary["runs"] if r["scenario"] == scenario and r["executor"] == executor]


def _values(summary: dict[str, Any], scenario: str, executor: str, path: str) -> list[float]:
    found = (_get(run, path) for run in _runs(summary, scenario, executor))
    return [value for value in found if value is not None]


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _get(run: dict[str, Any], path: str) -> float | None:
    value: Any = run
    for key in path.split("."):
        value = None if value is None else value.get(key)
    return None if value is None else float(value)


ROWS: tuple[tuple[str, str, str], ...] = (
    ("fan_out_50", "executor_requests_per_step", "API requests / step (executor)"),
    ("fan_out_50", "all_client_requests_minus_idle_per_step", "API requests / step (all clients, - idle)"),
    ("fan_out_50", "ready_to_create.median_s", "ready -> K8s Job created, median (s)"),
    ("fan_out_50", "ready_to_create.p95_s", "ready -> K8s Job created, p95 (s)"),
    ("fan_out_50", "makespan_s", "makespan (s)"),
    ("process_numbers", "executor_requests_per_step", "API requests / step (executor)"),
    (
        "process_numbers",
        "all_client_requests_minus_idle_per_step",
        "API requests / step (all clients, - idle)",
    ),
    ("process_numbers", "ready_to_create.median_s", "ready -> K8s Job created, median (s)"),
    ("process_numbers", "ready_to_create.max_s", "ready -> K8s Job created, max (s)"),
    ("process_numbers", "makespan_s", "makespan (s)"),
    ("oom", "failure_detection.pod_end_observed_s", "pod end (watch) -> STEP_FAILURE (s)"),
    ("oom", "failure_detection.pod_finished_at_s", "pod finishedAt -> STEP_FAILURE (s)"),
    ("oom", "executor_requests", "API requests (executor)"),
)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"


def _spread(values: Sequence[float]) -> str:
    """`median (min-max, n)` of the repetitions."""
    if not values:
        return "-"
    if len(values) == 1:
        return _fmt(values[0])
    return f"{_fmt(_median(values))} ({_fmt(min(values))}-{_fmt(max(values))}, n={len(values)})"


def table_rows(summary: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for scenario, path, label in ROWS:
        ours = _values(summary, scenario, "ours", path)
        peer = _values(summary, scenario, "peer", path)
        ours_m, peer_m = _median(ours), _median(peer)
        ratio = f"{peer_m / ours_m:.1f}x" if ours_m and peer_m is not None else "-"
        rows.append((LABELS[scenario], label, _spread(ours), _spread(peer), ratio))
    return rows


def table(summary: dict[str, Any]) -> str:
    """A Markdown table: ours, dagster-k8s (median, min-max over the repetitions), ratio of medians."""
    lines = [
        "| job | measure | ours: median (min-max, n) | dagster-k8s: median (min-max, n) "
        "| dagster-k8s / ours |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [f"| {' | '.join(row)} |" for row in table_rows(summary)]
    return "\n".join(lines)


# -- plot --------------------------------------------------------------------------------------
PANELS: tuple[tuple[str, str, tuple[str, ...], float | None], ...] = (
    (
        "Executor API requests per step",
        "executor_requests_per_step",
        ("fan_out_50", "process_numbers"),
        GOAL_REQUESTS_PER_STEP,
    ),
    (
        "Step ready -> K8s Job created, median (s)",
        "ready_to_create.median_s",
        ("fan_out_50", "process_numbers"),
        None,
    ),
    ("Failure detected after pod end (s)", "failure_detection.pod_end_observed_s", ("oom",), GOAL_FAILURE_S),
    ("Makespan (s)", "makespan_s", ("fan_out_50", "process_numbers"), None),
)


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    for ax, (title, metric, scenarios, goal) in zip(axes.flat, PANELS, strict=True):
        _bars(ax, summary, metric, scenarios)
        ax.set_title(title, fontsize=11)
        if goal is not None:
            ax.axhline(goal, color="tab:red", linestyle="--", linewidth=1, label=f"goal ≤ {goal:g}")
        ax.legend(fontsize=9)
    machine = summary["machine"]
    title = "dagster-ext k8s_job_executor vs dagster_k8s.k8s_job_executor — local cluster"
    reps = max((len(_runs(summary, s, "ours")) for s in LABELS), default=1)
    save_figure(fig, path, f"{title}, {machine['cpus']} cores, median of {reps} (bars: min-max)")


def save_figure(fig: Any, path: Path, title: str) -> None:
    """The common ending of every bench plot: title, layout, PNG, release the figure."""
    import matplotlib.pyplot as plt

    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _bars(ax: Any, summary: dict[str, Any], metric: str, scenarios: Sequence[str]) -> None:
    width = 0.38
    for offset, (executor, label, color) in enumerate(
        (("ours", "dagster-ext", "tab:blue"), ("peer", "dagster-k8s", "tab:orange"))
    ):
        samples = [_values(summary, s, executor, metric) for s in scenarios]
        values = [_median(v) or 0.0 for v in samples]
        low = [m - min(v) if v else 0.0 for m, v in zip(values, samples, strict=True)]
        high = [max(v) - m if v else 0.0 for m, v in zip(values, samples, strict=True)]
        xs = [i + (offset - 0.5) * width for i in range(len(scenarios))]
        bars = ax.bar(xs, values, width, label=label, color=color, yerr=[low, high], capsize=3)
        ax.bar_label(bars, labels=[_fmt(v) for v in values], fontsize=9)
    ax.set_xticks(range(len(scenarios)), [LABELS[s] for s in scenarios], fontsize=9)
    ax.margins(y=0.15)


def cold_start_table(summary: dict[str, Any]) -> str:
    """One step's time per milestone (median, min-max over the process_numbers runs), ours vs peer."""
    from bench.cold_start import COLD_START_NOTE, MILESTONES

    lines = [
        f"Cold start of one step ({COLD_START_NOTE}), seconds from the previous milestone:",
        "",
        "| milestone | ours: median (min-max, n) | dagster-k8s: median (min-max, n) |",
        "|---|---:|---:|",
    ]
    for name in (*MILESTONES, "total"):
        cells = [
            _spread(_values(summary, "process_numbers", executor, f"cold_start.{name}"))
            for executor in ("ours", "peer")
        ]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)
