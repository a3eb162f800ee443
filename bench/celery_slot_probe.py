"""Imported by both executors' bench workers (`celery worker -I bench.celery_slot_probe`): records when
each slot process starts and ends a Celery task, so slot utilisation is measured the same way for
ours and dagster-celery, from Celery's own signals rather than from either executor's bookkeeping.

One JSON line per task to `$DX_SLOT_PROBE_FILE` (appended with one `write`, so the slot processes'
lines do not interleave). Without the variable it does nothing.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from celery.signals import task_postrun, task_prerun

_started: dict[str, float] = {}


@task_prerun.connect(weak=False)
def _on_start(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _started[task_id] = time.time()


@task_postrun.connect(weak=False)
def _on_end(task_id: str | None = None, **_: Any) -> None:
    path = os.environ.get("DX_SLOT_PROBE_FILE")
    start = _started.pop(task_id or "", None)
    if not path or start is None:
        return
    line = json.dumps({"pid": os.getpid(), "task_id": task_id, "start": start, "end": time.time()}) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
