"""The seed's code location plus jobs that fail on purpose (for the launcher's failure tests)."""

import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dagster import Definitions, OpExecutionContext, RetryPolicy, in_process_executor, job, op  # noqa: E402

import examples.definitions as seed  # noqa: E402
from dagster_ext.k8s import k8s_job_executor  # noqa: E402


@op
def report_env(context: OpExecutionContext) -> str:
    user = os.environ.get("USER", "")
    context.log.info(f"USER={user}")
    return user


@job
def env_probe() -> None:
    report_env()


def allocate() -> int:
    chunks = [bytearray(64 * 1024 * 1024) for _ in range(40)]  # 2.5 GiB, touched
    return len(chunks)


@op
def hog_memory() -> int:
    return allocate()


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


def _k8s(tags: dict) -> dict:
    return {"dagster-k8s/config": tags}


@op(tags=_k8s({"container_config": {"resources": {"limits": {"memory": "512Mi"}}}}))
def step_hog_memory() -> int:
    return allocate()


@job(executor_def=k8s_job_executor)
def step_oom() -> None:
    step_hog_memory()


@op(tags=_k8s({"container_config": {"image": "registry.invalid/unpullable/step:1"}}))
def step_with_bad_image() -> None:
    pass


@job(executor_def=k8s_job_executor)
def step_unpullable() -> None:
    step_with_bad_image()


@op(tags=_k8s({"pod_spec_config": {"serviceAccountName": "no-such-account"}}))
def step_with_missing_account() -> None:
    pass


@job(executor_def=k8s_job_executor)
def step_missing_sa() -> None:
    step_with_missing_account()


@op(retry_policy=RetryPolicy(max_retries=1))
def fail_first_attempt(context: OpExecutionContext) -> str:
    if context.retry_number == 0:
        raise RuntimeError("first attempt fails on purpose")
    return "ok"


@job(executor_def=k8s_job_executor)
def step_retry() -> None:
    fail_first_attempt()


@op
def numbers_for_retry() -> list[int]:
    return [1, 2, 3]


@op
def fail_in_first_run(context: OpExecutionContext, numbers: list[int]) -> int:
    # Run retries tag the new run with dagster/retry_number: only the first run's step fails.
    if context.run.tags.get("dagster/retry_number") in (None, "0"):
        raise RuntimeError("the first run fails on purpose")
    return sum(numbers)


@job(executor_def=k8s_job_executor, tags={"dagster/max_retries": 1})
def step_run_retry() -> None:
    fail_in_first_run(numbers_for_retry())


@op
def step_sleep_long() -> None:
    time.sleep(120)


@job(executor_def=k8s_job_executor)
def step_sleepy() -> None:
    step_sleep_long()
    step_sleep_long.alias("second_sleeper")()


@op(
    retry_policy=RetryPolicy(max_retries=1),
    tags=_k8s({"container_config": {"resources": {"requests": {"cpu": "1500m"}}}}),
)
def preemptible(context: OpExecutionContext) -> int:
    # The first attempt runs until a higher-priority pod takes its node; the retry finishes.
    if context.retry_number == 0:
        time.sleep(120)
    return context.retry_number


@job(executor_def=k8s_job_executor)
def step_preempted() -> None:
    preemptible()


@op
def resume_first() -> int:
    return 1


@op
def resume_slow(first: int) -> int:
    # Long enough for a test to kill the run worker while this step's pod runs.
    time.sleep(30)
    return first + 1


@job(executor_def=k8s_job_executor)
def step_resumable() -> None:
    resume_slow(resume_first())


TICKS = 40


@op
def log_ticks(context: OpExecutionContext) -> int:
    # Writes an event every 0.25 s: a database restart lands between two of them.
    for n in range(TICKS):
        context.log.info(f"tick {n}")
        time.sleep(0.25)
    return TICKS


@job(executor_def=k8s_job_executor)
def step_ticks() -> None:
    log_ticks()


POOL = "dx-pool"


@op(pool=POOL)
def pooled_sleep() -> None:
    time.sleep(4)


@job(executor_def=k8s_job_executor)
def step_pooled() -> None:
    pooled_sleep()
    pooled_sleep.alias("second_pooled")()


@op(pool=POOL)
def pooled_sleep_long() -> None:
    time.sleep(120)


@job(executor_def=k8s_job_executor)
def step_pooled_long() -> None:
    pooled_sleep_long()


@op(pool=POOL, tags=_k8s({"pod_spec_config": {"nodeSelector": {"dx-pool-test": "no-such-node"}}}))
def pooled_unschedulable() -> None:
    pass


@job(executor_def=k8s_job_executor)
def step_pooled_unschedulable() -> None:
    pooled_unschedulable()


defs = Definitions.merge(
    seed.defs,
    Definitions(
        jobs=[
            env_probe,
            memory_hog,
            sleepy,
            crash_once,
            step_oom,
            step_unpullable,
            step_missing_sa,
            step_retry,
            step_run_retry,
            step_sleepy,
            step_resumable,
            step_ticks,
            step_preempted,
            step_pooled,
            step_pooled_long,
            step_pooled_unschedulable,
        ]
    ),
)
