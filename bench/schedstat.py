"""CPU and run-queue time of a worker's processes, from Linux's /proc/<pid>/schedstat.

Why in the bench: on a machine with fewer cores than busy processes, the idle time between two steps
in a slot is mostly time spent waiting for a CPU (the worker's main process to hand the next message
over, then the slot to start it). These figures show how oversubscribed the run was.
"""

from __future__ import annotations

from pathlib import Path

# (cpu seconds, run-queue wait seconds) per pid
Times = dict[int, tuple[float, float]]


def children(pid: int) -> list[int]:
    """Direct children of `pid` (a worker's main process: its prefork slots)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def worker_pids(root_pid: int) -> list[int]:
    """The Celery worker's main process, then its prefork slots. `root_pid` may be a CLI wrapper
    that runs the worker as a child (dagster-celery's does): the main process is the deepest one with
    children."""
    main, frontier = root_pid, [root_pid]
    while frontier:
        pid = frontier.pop(0)
        kids = children(pid)
        if kids:
            main = pid
            frontier += kids
    return [main, *children(main)]


def sample(pids: list[int]) -> Times:
    times: Times = {}
    for pid in pids:
        path = Path(f"/proc/{pid}/schedstat")
        if path.exists():
            run_ns, wait_ns, _ = path.read_text().split()
            times[pid] = (int(run_ns) / 1e9, int(wait_ns) / 1e9)
    return times


def delta(before: Times, after: Times, *, main_pid: int) -> dict[str, float]:
    """CPU and run-queue wait between two samples, for the main process and summed over the slots."""
    figures = {
        "main_cpu_s": 0.0,
        "main_runqueue_wait_s": 0.0,
        "slots_cpu_s": 0.0,
        "slots_runqueue_wait_s": 0.0,
    }
    for pid, (cpu, wait) in after.items():
        cpu0, wait0 = before.get(pid, (0.0, 0.0))
        who = "main" if pid == main_pid else "slots"
        figures[f"{who}_cpu_s"] += cpu - cpu0
        figures[f"{who}_runqueue_wait_s"] += wait - wait0
    return figures
