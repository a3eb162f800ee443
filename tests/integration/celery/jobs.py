"""Test code location for the Celery-queue executor: the seed's `process_numbers` plus small jobs
whose ops record when they start and end (JSON lines in $DX_TRACE_DIR/trace.jsonl).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from dagster import Definitions, In, Nothing, OpDefinition, job, op, resource  # noqa: E402

from dagster_ext.celery import celery_queue_executor  # noqa: E402
from examples.numbers_ops import _process_numbers_graph  # noqa: E402


def trace(event: str, context: Any, **fields: Any) -> None:
    trace_dir = os.environ.get("DX_TRACE_DIR")
    if not trace_dir:
        return
    line = {
        "event": event,
        "run_id": context.run_id,
        "step": context.op_handle.name,
        "t": time.time(),
        "pid": os.getpid(),
        "worker": os.environ.get("DX_WORKER_NAME"),
        **fields,
    }
    fd = os.open(os.path.join(trace_dir, "trace.jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())  # one O_APPEND write: atomic across processes
    finally:
        os.close(fd)


def traced_sleep(context: Any, seconds: float) -> None:
    trace("start", context)
    try:
        time.sleep(seconds)
    except BaseException as err:
        trace("interrupted", context, error=type(err).__name__)
        raise
    trace("end", context)


@job(executor_def=celery_queue_executor, tags={"domain": "numbers"})
def process_numbers() -> None:
    _process_numbers_graph()


@op
def start_op() -> None:
    pass


def _sleeper(
    name: str, *, tags: dict[str, Any] | None = None, env: str = "DX_STEP_SLEEP", pool: str | None = None
) -> OpDefinition:
    @op(name=name, ins={"after": In(Nothing)}, tags=tags or {}, pool=pool)
    def _op(context) -> None:  # type: ignore[no-untyped-def]  # Dagster rejects a string annotation
        traced_sleep(context, float(os.environ.get(env, "0.2")))

    return _op


FAN_OUT = [_sleeper(f"work_{i:02d}") for i in range(30)]


@job(executor_def=celery_queue_executor)
def fan_out() -> None:
    first = start_op()
    for work in FAN_OUT:
        work(first)


POOL = "dx-pool"
POOLED = [_sleeper(f"pooled_{i}", pool=POOL) for i in range(4)]


@job(executor_def=celery_queue_executor)
def pooled_fan_out() -> None:
    first = start_op()
    for work in POOLED:
        work(first)


ON_DEFAULT = _sleeper("on_default")
ON_B = _sleeper("on_b", tags={"dagster-celery/queue": "b"})


@job(executor_def=celery_queue_executor)
def routed() -> None:
    first = start_op()
    ON_DEFAULT(first)
    ON_B(first)


BLOCKER = _sleeper("blocker", env="DX_BLOCK_S")
LOWS = [_sleeper(f"low_{i}", tags={"dagster-celery/priority": "1"}) for i in range(3)]
HIGH = _sleeper("high", tags={"dagster-celery/priority": "9"})


# No upstream op: every step of these runs is queued as soon as the run starts.
@job(executor_def=celery_queue_executor)
def prio_blocker() -> None:
    BLOCKER()


@job(executor_def=celery_queue_executor)
def prio_low() -> None:
    for low in LOWS:
        low()


@job(executor_def=celery_queue_executor)
def prio_high() -> None:
    HIGH()


SLOW = _sleeper("slow", env="DX_SLOW_S")
AFTER = _sleeper("after")


@job(executor_def=celery_queue_executor)
def slow_chain() -> None:
    AFTER(SLOW(start_op()))


LONG = [_sleeper(f"long_{i}", env="DX_LONG_S") for i in range(6)]


@job(executor_def=celery_queue_executor)
def long_fan() -> None:
    first = start_op()
    for long_op in LONG:
        long_op(first)


UNPULLABLE_IMAGE = "registry.invalid/unpullable/step:1"


@op(tags={"dagster-k8s/config": {"container_config": {"image": UNPULLABLE_IMAGE}}})
def with_bad_image() -> None:
    pass


@job(executor_def=celery_queue_executor)
def unpullable() -> None:
    with_bad_image()


@op(ins={"after": In(Nothing)})
def slow_then_crash(context) -> None:  # type: ignore[no-untyped-def]
    """Dies by SIGKILL after $DX_SLOW_S, writing no STEP_FAILURE: only its K8s Job tells it failed."""
    trace("start", context)
    time.sleep(float(os.environ.get("DX_SLOW_S", "0.2")))
    trace("crash", context)
    os.kill(os.getpid(), signal.SIGKILL)


@job(executor_def=celery_queue_executor)
def crash_chain() -> None:
    AFTER(slow_then_crash(start_op()))


MEMORY_LIMIT = {"dagster-k8s/config": {"container_config": {"resources": {"limits": {"memory": "512Mi"}}}}}


@op(ins={"after": In(Nothing)}, tags={**MEMORY_LIMIT, "dagster-celery/priority": "9"})
def hog_memory(context) -> int:  # type: ignore[no-untyped-def]
    """Touches 2.5 GiB under a 512Mi limit: the kernel (or the kubelet) kills the pod, OOMKilled."""
    trace("start", context)
    chunks = [bytearray(64 * 1024 * 1024) for _ in range(40)]
    trace("end", context)
    return len(chunks)


NEXT_TO_OOM = _sleeper("next_to_oom", tags={"dagster-celery/priority": "1"})


@job(executor_def=celery_queue_executor)
def oom_then_next() -> None:
    first = start_op()
    hog_memory(first)
    NEXT_TO_OOM(first)


@resource
def slow_teardown(_init_context: Any) -> Any:
    """Dagster tears a step's resources down after its last event: a wind-down of DX_TEARDOWN_S."""
    yield None
    time.sleep(float(os.environ.get("DX_TEARDOWN_S", "0")))


def _winding_down(name: str) -> OpDefinition:
    @op(name=name, required_resource_keys={"slow_teardown"})
    def _op(context) -> None:  # type: ignore[no-untyped-def]  # Dagster rejects a string annotation
        traced_sleep(context, 0.1)

    return _op


# No upstream op: both steps are queued at once; with one slot, one waits for the other's slot.
@job(executor_def=celery_queue_executor, resource_defs={"slow_teardown": slow_teardown})
def wind_down() -> None:
    _winding_down("wind_a")()
    _winding_down("wind_b")()


defs = Definitions(
    jobs=[
        process_numbers,
        fan_out,
        pooled_fan_out,
        routed,
        prio_blocker,
        prio_low,
        prio_high,
        slow_chain,
        long_fan,
        unpullable,
        crash_chain,
        oom_then_next,
        wind_down,
    ]
)
