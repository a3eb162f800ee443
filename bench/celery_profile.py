"""Where a warm step's time goes in our Celery worker: py-spy on the slot process during the chain.

    python bench/celery_profile.py [--top 40] [--keep PATH]

Same environment as `celery_executor.py` (Redis, PostgreSQL, default run launcher), but one worker with
one slot, so a single process runs every step. After a warm-up run, `py-spy record --idle` samples that
process (wall time, I/O waits included) while `chain_20_ours` runs. Only samples inside our task
(`run_step_task`) count: the time between tasks is the broker's and the run worker's. Prints each
function's share of the task time (inclusive), the run's chain figures, and keeps the raw stacks.
"""

from __future__ import annotations

import argparse
import collections
import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import schedstat  # noqa: E402
from bench.celery_code_location import CHAIN_LENGTH  # noqa: E402
from bench.celery_executor import read_events, run_job  # noqa: E402
from bench.celery_measures import chain_figures  # noqa: E402
from bench.celery_setup import celery_bench  # noqa: E402

TASK_FRAME = "run_step_task"
SAMPLE_RATE_HZ = 250


def inclusive_shares(raw: str) -> tuple[int, collections.Counter[str]]:
    """From py-spy's collapsed stacks: samples inside the task, and per function the samples that
    have it anywhere on the stack (counted once per sample)."""
    total = 0
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        names = [f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0] + ")" for f in frames]
        if not any(TASK_FRAME in f for f in frames):
            continue
        count = int(count_text)
        total += count
        start = next(i for i, f in enumerate(frames) if TASK_FRAME in f)
        for name in set(names[start:]):
            counts[name] += count
    return total, counts


def profile_chain(work_dir: Path, stacks: Path) -> dict[str, object]:
    """Warm a one-slot worker, then sample its slot process while the chain runs."""
    with celery_bench(work_dir) as bench, bench.workers("ours", slots=1) as worker:
        assert worker is not None
        run_job(bench, "warmup", "ours")
        (pid,) = schedstat.children(worker.pid)
        command = ["py-spy", "record", "--idle", "-r", str(SAMPLE_RATE_HZ), "-f", "raw"]
        spy = subprocess.Popen(
            [*command, "-o", str(stacks), "-p", str(pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        run_id, _, _ = run_job(bench, "chain_20", "ours")
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
        return chain_figures(read_events(bench, run_id), [f"link_{i:02d}" for i in range(CHAIN_LENGTH)])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--keep", type=Path, default=Path(tempfile.gettempdir()) / "celery_profile.txt")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dagster-ext-profile-") as tmp:
        figures = profile_chain(Path(tmp), args.keep)
    total, counts = inclusive_shares(args.keep.read_text())
    per_step_ms = 1000 / SAMPLE_RATE_HZ / CHAIN_LENGTH
    print(json.dumps(figures, indent=2))
    print(f"{total} samples in {TASK_FRAME} ({total * per_step_ms:.0f} ms per step)")
    for name, count in counts.most_common(args.top):
        print(f"{100 * count / total:5.1f}%  {count * per_step_ms:6.1f} ms/step  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
