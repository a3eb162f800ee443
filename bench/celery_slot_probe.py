"""Imported by both executors' bench workers (`celery worker -I bench.celery_slot_probe`): records when
each slot process starts and ends a Celery task, so slot utilisation is measured the same way for
ours and dagster-celery, from Celery's own signals rather than from either executor's bookkeeping.

It also marks the hand-off between two tasks of a slot, to show where a slot's idle time goes:
`result` (the worker's main process receives the slot's result), `dispatch` (the main process
hands the next request to the pool) and `got` (the slot process has read the job from its pipe and
enters Celery's trace). The first two wrap Celery's request class in the main process, the last
Celery's trace entry points in the slots: diagnostic patches of Celery internals, applied only
when they fit the installed Celery, so the bench runs without them otherwise.

JSON lines to `$DX_SLOT_PROBE_FILE`, each appended with one `write` so processes do not
interleave: `{"pid", "task_id", "start", "end"}` per task, `{"pid", "task_id", "mark", "t"}` per
mark. Without the variable it does nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Any

from celery.signals import task_postrun, task_prerun

_started: dict[str, float] = {}


def _append(record: dict[str, Any]) -> None:
    path = os.environ.get("DX_SLOT_PROBE_FILE")
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
    finally:
        os.close(fd)


def _mark(mark: str, task_id: Any) -> None:
    _append({"pid": os.getpid(), "task_id": str(task_id), "mark": mark, "t": time.time()})


@task_prerun.connect(weak=False)
def _on_start(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _started[task_id] = time.time()


@task_postrun.connect(weak=False)
def _on_end(task_id: str | None = None, **_: Any) -> None:
    start = _started.pop(task_id or "", None)
    if start is not None:
        _append({"pid": os.getpid(), "task_id": task_id, "start": start, "end": time.time()})


def _patch_hand_off() -> None:
    from celery.app import trace
    from celery.worker import request, strategy

    create = strategy.create_request_cls

    def create_request_cls(*args: Any, **kwargs: Any) -> Any:
        cls = create(*args, **kwargs)
        execute, on_success = cls.execute_using_pool, cls.on_success

        def execute_using_pool(self: Any, *a: Any, **kw: Any) -> Any:
            _mark("dispatch", self.id)
            return execute(self, *a, **kw)

        def on_success_marked(self: Any, *a: Any, **kw: Any) -> Any:
            _mark("result", self.id)
            return on_success(self, *a, **kw)

        cls.execute_using_pool, cls.on_success = execute_using_pool, on_success_marked
        return cls

    _originals.update(fast=trace.fast_trace_task, plain=trace.trace_task_ret)
    strategy.create_request_cls = create_request_cls
    # The request class picks its trace function from these names when it is created; the function
    # travels to the slot pickled by reference, hence module-level wrappers.
    request.fast_trace_task, request.trace_task_ret = fast_trace_task_marked, trace_task_ret_marked


_originals: dict[str, Any] = {}


def fast_trace_task_marked(task: Any, uuid: Any, *args: Any, **kwargs: Any) -> Any:
    _mark("got", uuid)
    return _originals["fast"](task, uuid, *args, **kwargs)


def trace_task_ret_marked(name: Any, uuid: Any, *args: Any, **kwargs: Any) -> Any:
    _mark("got", uuid)
    return _originals["plain"](name, uuid, *args, **kwargs)


if os.environ.get("DX_SLOT_PROBE_FILE"):
    # Another Celery whose internals differ: spans are still recorded, marks not.
    with contextlib.suppress(ImportError, AttributeError):
        _patch_hand_off()
