"""Summaries of the Celery bench: comparisons, goals, the JSON record, the console table and the plot.

Every figure here is computed from the runs' records; nothing is typed in by hand.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.report import _machine, save_figure

GOAL_LATENCY_RATIO = 10.0  # dagster-celery / ours, per-step latency on the serial chain
GOAL_OVERHEAD_S = 0.030  # per warm step, ours minus in_process
GOAL_UTILISATION = 0.95
SLOTS_CAP = 4
LABELS = {
    "ours": "dagster-ext",
    "ours_fetch_off": "dagster-ext --no-fetch-at-step-end",
    "ours_read_ahead": "dagster-ext --read-ahead 1",
    "ours_tuned": "dagster-ext --read-ahead 1 --slot-nice 10",
    "peer": "dagster-celery",
    "in_process": "in_process (baseline)",
}
COLUMNS = ("in_process", "ours_fetch_off", "ours", "ours_read_ahead", "ours_tuned", "peer")


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("dagster", "dagster-celery", "celery", "kombu", "redis")}


def _run(runs: Sequence[dict[str, Any]], scenario: str, executor: str) -> dict[str, Any]:
    return next((r for r in runs if r["scenario"] == scenario and r["executor"] == executor), {})


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def _minus(a: float | None, b: float | None) -> float | None:
    return a - b if a is not None and b is not None else None


def overhead(runs: Sequence[dict[str, Any]], executor: str) -> dict[str, float | None]:
    """Executor overhead per warm step: what a chain step costs under the executor beyond what the same
    step costs under in_process (which pays Dagster's step machinery and event writes too).

    `cycle`: median STEP_SUCCESS -> next STEP_SUCCESS, minus in_process's (run start/end excluded).
    `makespan`: (makespan - in_process makespan) / steps (run start/end included).
    """
    chain, base = _run(runs, "chain_20", executor), _run(runs, "chain_20", "in_process")
    steps = chain.get("steps") or None
    per_makespan = _minus(chain.get("makespan_s"), base.get("makespan_s"))
    return {
        "cycle_s": _minus(chain.get("cycle_median_s"), base.get("cycle_median_s")),
        "makespan_s": per_makespan / steps if per_makespan is not None and steps else None,
    }


def comparisons(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    ours_chain, peer_chain = _run(runs, "chain_20", "ours"), _run(runs, "chain_20", "peer")
    ours_fan, peer_fan = _run(runs, "fan_out_200", "ours"), _run(runs, "fan_out_200", "peer")
    return {
        "overhead_per_warm_step": {e: overhead(runs, e) for e in ("ours", "peer")},
        "peer_over_ours": {
            "chain_per_step_s": _ratio(peer_chain.get("per_step_s"), ours_chain.get("per_step_s")),
            "chain_handoff_median_s": _ratio(
                peer_chain.get("handoff_median_s"), ours_chain.get("handoff_median_s")
            ),
            "fan_out_throughput": _ratio(
                peer_fan.get("throughput_steps_per_s"), ours_fan.get("throughput_steps_per_s")
            ),
            "fan_out_utilisation": _ratio(peer_fan.get("utilisation"), ours_fan.get("utilisation")),
            "fan_out_slot_utilisation": _ratio(
                peer_fan.get("slot_utilisation"), ours_fan.get("slot_utilisation")
            ),
        },
    }


def goals(runs: Sequence[dict[str, Any]], compared: dict[str, Any]) -> dict[str, Any]:
    ratio = compared["peer_over_ours"]["chain_per_step_s"]
    cost = compared["overhead_per_warm_step"]["ours"]["cycle_s"]
    fans = {
        e: _run(runs, "fan_out_200", e) for e in ("ours", "ours_fetch_off", "ours_read_ahead", "ours_tuned")
    }
    peaks = [f["peak_concurrency"] for f in fans.values() if f.get("peak_concurrency") is not None]

    def verdict(value: Any, ok: bool) -> dict[str, Any]:
        return {"value": value, "met": None if value is None else ok}

    return {
        "chain_latency_ratio_min_10": verdict(ratio, ratio is not None and ratio >= GOAL_LATENCY_RATIO),
        "overhead_per_warm_step_max_30ms": verdict(cost, cost is not None and cost <= GOAL_OVERHEAD_S),
        **{
            f"utilisation_min_95pct_{executor}": verdict(util, util is not None and util >= GOAL_UTILISATION)
            for executor, fan in fans.items()
            for util in [fan.get("slot_utilisation")]
        },
        "cap_peak_max_4": verdict(max(peaks, default=None), bool(peaks) and max(peaks) <= SLOTS_CAP),
    }


def summarize(runs: Sequence[dict[str, Any]], *, code: dict[str, Any], wall_s: float) -> dict[str, Any]:
    compared = comparisons(runs)
    return {
        "machine": _machine(),
        "code": code,
        "versions": _versions(),
        "bench_wall_s": round(wall_s, 1),
        "method": {
            "setup": "one Redis, PostgreSQL run/event storage, default run launcher, one worker with 4 "
            "prefork slots per Celery executor, warmed by a 9-step run before measuring; ours also with "
            "its worker's --no-fetch-at-step-end (one message per slot, the default before the step-end "
            "fetch), --read-ahead 1, and --read-ahead 1 --slot-nice 10, on the fan-out",
            "chain_per_step": "RUN_START -> RUN_SUCCESS / 20",
            "chain_handoff": "upstream STEP_SUCCESS -> next STEP_START, median",
            "overhead_per_warm_step": "median STEP_SUCCESS -> next STEP_SUCCESS on the chain, minus the same "
            "for Dagster's in_process executor in the same invocation",
            "throughput": "200 steps / (first STEP_START -> last STEP_SUCCESS)",
            "peak_concurrency": "most steps between STEP_START and STEP_SUCCESS at one moment",
            "utilisation": "step-span utilisation: sum of (STEP_SUCCESS - STEP_START) / (4 slots x (first "
            "start -> last end)); no-op steps spend most of a step in Dagster's own work outside this span",
            "slot_utilisation": "the goal's measure, both executors alike: Celery's task_prerun -> "
            "task_postrun in each slot process (bench/celery_slot_probe.py), clipped to and summed over "
            "the window in which steps waited for slots (second task start -> last task start) / (4 "
            "slots x that window); slot_utilisation_all: over first task start -> last task end (the "
            "root step alone and the drain included); slot gap: a slot's task end -> its next task start",
            "cpu": "from /proc/<pid>/schedstat of the worker's main process and its slots, over the run: "
            "CPU time and time spent runnable but waiting for a CPU",
            "slot_occupancy": "ours only, from the claim log: sum of (claimed -> finished) per step / "
            "(4 slots x (first claim -> last finish))",
        },
        "goals": goals(runs, compared),
        "comparisons": compared,
        "runs": list(runs),
    }


def write_json(summary: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2) + "\n")


# -- table -------------------------------------------------------------------------------------
ROWS: tuple[tuple[str, str, str, float], ...] = (  # scenario, field, label, display scale
    ("chain_20", "per_step_s", "per-step latency, makespan / 20 (ms)", 1000),
    ("chain_20", "handoff_median_s", "upstream success -> next start, median (ms)", 1000),
    ("chain_20", "cycle_median_s", "success -> next success, median (ms)", 1000),
    ("chain_20", "body_median_s", "no-op step start -> success, median (ms)", 1000),
    ("chain_20", "makespan_s", "makespan (s)", 1),
    ("fan_out_200", "throughput_steps_per_s", "throughput (steps/s)", 1),
    ("fan_out_200", "peak_concurrency", "peak steps executing at once (cap 4)", 1),
    ("fan_out_200", "slot_utilisation", "slot utilisation, task spans in the slots (%)", 100),
    ("fan_out_200", "slot_gap_median_s", "slot idle between two tasks, median (ms)", 1000),
    ("fan_out_200", "slot_gap_p95_s", "slot idle between two tasks, p95 (ms)", 1000),
    ("fan_out_200", "handoff_result_s", "idle: slot's result reaches the main process, median (ms)", 1000),
    ("fan_out_200", "handoff_dispatch_s", "idle: result -> next request dispatched, median (ms)", 1000),
    ("fan_out_200", "handoff_pipe_s", "idle: dispatched -> slot has read the job, median (ms)", 1000),
    ("fan_out_200", "handoff_trace_s", "idle: job read -> task_prerun, median (ms)", 1000),
    ("fan_out_200", "task_median_s", "task span in the slot, median (ms)", 1000),
    ("fan_out_200", "slots_cpu_s", "slot processes: CPU, summed (s)", 1),
    ("fan_out_200", "slots_runqueue_wait_s", "slot processes: waiting for a CPU, summed (s)", 1),
    ("fan_out_200", "main_runqueue_wait_s", "worker main process: waiting for a CPU (s)", 1),
    ("fan_out_200", "utilisation", "step-span utilisation, STEP_START -> SUCCESS (%)", 100),
    ("fan_out_200", "slot_occupancy", "slot occupancy, claimed -> finished (%, ours only)", 100),
    ("fan_out_200", "window_s", "first start -> last success (s)", 1),
)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}" if abs(value) < 1000 else f"{value:.0f}"


def table(summary: dict[str, Any]) -> str:
    """Markdown: one column per executor (`COLUMNS`), then dagster-celery / ours; then overhead and
    goals."""
    runs = summary["runs"]
    lines = [
        "| job | measure | " + " | ".join(LABELS[e] for e in COLUMNS) + " | dagster-celery / ours |",
        "|---|---|" + "---:|" * (len(COLUMNS) + 1),
    ]
    for scenario, field, label, scale in ROWS:
        values = {e: _run(runs, scenario, e).get(field) for e in COLUMNS}
        shown = {e: None if v is None else v * scale for e, v in values.items()}
        ratio = _ratio(values["peer"], values["ours"])
        cells = [_fmt(shown[e]) for e in COLUMNS]
        lines.append(f"| {scenario} | {label} | {' | '.join(cells)} | {_fmt(ratio)}x |")
    over = summary["comparisons"]["overhead_per_warm_step"]
    for executor in ("ours", "peer"):
        ms = {k: None if v is None else v * 1000 for k, v in over[executor].items()}
        lines.append(
            f"\noverhead per warm step, {LABELS[executor]}: {_fmt(ms['cycle_s'])} ms (cycle), "
            f"{_fmt(ms['makespan_s'])} ms (makespan)"
        )
    for goal, result in summary["goals"].items():
        lines.append(f"goal {goal}: {_fmt(result['value'])} -> {'met' if result['met'] else 'MISSED'}")
    return "\n".join(lines)


# -- plot --------------------------------------------------------------------------------------
PANELS: tuple[tuple[str, str, str, float, float | None], ...] = (  # title, scenario, field, scale, goal
    ("Serial chain: per-step latency (ms)", "chain_20", "per_step_s", 1000, None),
    ("Serial chain: success -> next start, median (ms)", "chain_20", "handoff_median_s", 1000, None),
    ("200 no-op steps, 4 slots: throughput (steps/s)", "fan_out_200", "throughput_steps_per_s", 1, None),
    ("200 no-op steps, 4 slots: slot utilisation (%)", "fan_out_200", "slot_utilisation", 100, 95.0),
)


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(15, 8.5))
    colors = {
        "in_process": "tab:gray",
        "ours": "tab:blue",
        "ours_fetch_off": "tab:purple",
        "ours_read_ahead": "tab:cyan",
        "ours_tuned": "tab:green",
        "peer": "tab:orange",
    }
    for ax, (title, scenario, field, scale, goal) in zip(axes.flat, PANELS, strict=True):
        executors = [e for e in COLUMNS if _run(summary["runs"], scenario, e)]
        values = [(_run(summary["runs"], scenario, e).get(field) or 0.0) * scale for e in executors]
        names = [LABELS[e].replace(" --", "\n--").replace(" (", "\n(") for e in executors]
        bars = ax.bar(names, values, color=[colors[e] for e in executors])
        ax.bar_label(bars, labels=[_fmt(v) for v in values], fontsize=9)
        ax.set_title(title, fontsize=11)
        if goal is not None:
            ax.axhline(goal, color="tab:red", linestyle="--", linewidth=1, label=f"goal ≥ {goal:g}")
            ax.legend(fontsize=9)
        ax.margins(y=0.15)
        ax.tick_params(axis="x", labelsize=8)
    machine = summary["machine"]
    title = "dagster-ext celery_queue_executor vs dagster_celery.celery_executor — Redis + PostgreSQL"
    save_figure(fig, path, f"{title}, {machine['cpus']} cores, one run each")
