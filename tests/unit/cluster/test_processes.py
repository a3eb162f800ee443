"""Start and stop by PID with real processes: groups are swept, recycled PIDs are never signalled."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dagster_ext.testing.cluster.processes import ProcessRef, spawn, stop_component, stop_ref
from dagster_ext.testing.cluster.state import ClusterState, load_state, save_state

pytestmark = pytest.mark.timeout(30)


def test_stop_component_kills_the_whole_group_even_if_sigterm_is_ignored(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = f"trap '' TERM; sleep 300 & echo $! > {pid_file}; wait"
    component = spawn("stubborn", ["bash", "-c", script], log_path=tmp_path / "log")
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        time.sleep(0.05)
    child = int(pid_file.read_text())
    ref = component.ref
    stop_component(component, grace_s=0.5)
    assert component.exited()
    assert not ref.alive()
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]


def test_stop_ref_stops_a_process_it_did_not_start(tmp_path: Path) -> None:
    component = spawn("sleeper", ["sleep", "300"], log_path=tmp_path / "log", die_with_parent=False)
    ref = ProcessRef.from_json(component.ref.to_json())
    assert ref.alive()
    stop_ref(ref, grace_s=5)
    component.process.wait(timeout=5)
    assert not ref.alive()


def test_a_recycled_pid_is_not_ours(tmp_path: Path) -> None:
    component = spawn("sleeper", ["sleep", "300"], log_path=tmp_path / "log")
    real = component.ref
    impostor = ProcessRef(real.name, real.pid, real.start_ticks + 1, real.log_path)
    assert not impostor.alive()
    stop_ref(impostor, grace_s=0.1)  # must not signal the live process
    assert real.alive()
    stop_component(component, grace_s=1)


def test_state_round_trips(tmp_path: Path) -> None:
    state = ClusterState("v1.32.6", "https://127.0.0.1:1", "/k", "n", (ProcessRef("etcd", 1, 2, "/l"),))
    save_state(tmp_path, state)
    assert load_state(tmp_path) == state
    assert load_state(tmp_path / "nothing") is None
