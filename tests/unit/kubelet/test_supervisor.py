"""What the supervisor does with pods it finds: run, delete, or report lost (kubelet restart)."""

from __future__ import annotations

import pytest
from kubelet_harness import Harness, container_state, make_pod, py

from dagster_ext.testing.kubelet.supervisor import Supervisor

pytestmark = pytest.mark.timeout(60)


def test_terminal_deleting_pod_is_deleted_without_running(harness: Harness) -> None:
    pod = make_pod(py("raise SystemExit(1)"))
    pod["status"] = {"phase": "Succeeded"}
    pod["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    Supervisor(harness.deps).observe(pod)
    assert harness.api.deleted == [("ns", pod["metadata"]["name"], pod["metadata"]["uid"])]
    assert harness.api.statuses == []


def test_pod_running_under_a_previous_kubelet_is_reported_lost(harness: Harness) -> None:
    pod = make_pod(py("print('never again')"))
    pod["status"] = {
        "phase": "Running",
        "startTime": "2024-01-01T00:00:00Z",
        "containerStatuses": [
            {"name": "main", "restartCount": 0, "state": {"running": {"startedAt": "2024-01-01T00:00:01Z"}}}
        ],
    }
    supervisor = Supervisor(harness.deps)
    supervisor.observe(pod)
    status = harness.api.last
    assert status["phase"] == "Failed"
    assert status["reason"] == "ProcessLost"
    terminated = container_state(status)["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (137, "ContainerStatusUnknown")
    supervisor.observe(pod)  # seen again: nothing new
    assert len(harness.api.statuses) == 1


def test_new_pod_runs_and_force_deletion_stops_it(harness: Harness) -> None:
    pod = make_pod(py("import time; print('up', flush=True); time.sleep(600)"))
    supervisor = Supervisor(harness.deps)
    supervisor.observe(pod)
    harness.api.wait_for(lambda s: s["phase"] == "Running")
    published = len(harness.api.statuses)
    supervisor.removed(pod["metadata"]["uid"])
    assert pod["metadata"]["uid"] not in supervisor.uids()
    supervisor.shutdown(10)  # waits for the removed pod's processes too
    assert len(harness.api.statuses) == published  # the object is gone: no more writes
    assert harness.api.deleted == []
