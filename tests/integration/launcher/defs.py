"""The seed's code location plus jobs that fail on purpose (for the launcher's failure tests)."""


import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dagster import Definitions, OpExecutionContext, in_process_executor, job, op  # noqa: E402

import examples.definitions as seed  # noqa: E402


@op
def report_env(context: OpExecutionContext) -> str:
    user = os.environ.get("USER", "")
    context.log.info(f"USER={user}")
    return user


@job
def env_probe() -> None:
    report_env()


@op
def hog_memory() -> int:
    chunks = [bytearray(64 * 1024 * 1024) for _ in range(40)]  # 2.5 GiB, touched
    return len(chunks)


@job(executor_def=in_process_executor)
def memory_hog() -> None:
    hog_memory()


@op
def sleep_long() -> None:
    time.sleep(120)


@job(executor_def=in_process_executor)
def sleepy() -> None:
    sleep_long()


@op
def die_on_first_try(context: OpExecutionContext) -> str:
    # Run retries tag the new run with dagster/retry_number; the first run's worker dies hard.
    if context.run.tags.get("dagster/retry_number") in (None, "0"):
        os.kill(os.getpid(), signal.SIGKILL)
    return "survived"


@job(executor_def=in_process_executor, tags={"dagster/max_retries": 1})
def crash_once() -> None:
    die_on_first_try()


defs = Definitions.merge(seed.defs, Definitions(jobs=[env_probe, memory_hog, sleepy, crash_once]))
