"""Kubelet test fixtures; helpers live in `kubelet_harness` (importable: this directory is put
on sys.path, as pytest's importlib mode does not)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from kubelet_harness import Harness, marked_processes

from dagster_ext.testing.kubelet import memory, procfs


@pytest.fixture(params=["auto", "poll"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    mark = uuid.uuid4().hex
    control = memory.detect("unit-" + mark[:8], prefer=request.param)
    h = Harness(tmp_path, mark, control)
    try:
        yield h
    finally:
        h.close()
        control.close()
        leaked = marked_processes(mark)
        procfs.kill_all(leaked)
        assert not leaked, f"container processes leaked: {leaked}"
