"""Pod phase and conditions, following the kubelet's getPhase and condition generators."""

from __future__ import annotations

from typing import Any

from dagster_ext.testing.kubelet.status import build_status, new_record, pod_phase, record_from_status

NOW = "2024-01-01T00:00:00Z"
LATER = "2024-01-01T00:01:00Z"


def pod(restart_policy: str = "Never", init: int = 0, main: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
        "spec": {
            "restartPolicy": restart_policy,
            "initContainers": [{"name": f"i{n}", "image": "img"} for n in range(init)],
            "containers": [{"name": f"c{n}", "image": "img"} for n in range(main)],
        },
    }


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c.get("reason") or "") for c in status["conditions"]}


def test_new_pod_is_pending_with_waiting_containers() -> None:
    record = new_record(pod(init=1), NOW)
    status = build_status(record, NOW)
    assert status["phase"] == "Pending"
    assert status["initContainerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert status["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert conditions(status)["Initialized"] == ("False", "ContainersNotInitialized")
    assert conditions(status)["PodScheduled"] == ("True", "")
    assert status["podIP"] == status["hostIP"] == "127.0.0.1"


def test_running_then_succeeded() -> None:
    record = new_record(pod(), NOW)
    record.sandbox_ready = True
    record.main[0].set_running("process://x", NOW)
    running = build_status(record, NOW)
    assert running["phase"] == "Running"
    assert conditions(running)["Ready"] == ("True", "")
    assert running["containerStatuses"][0]["ready"] is True
    record.main[0].set_terminated(0, "Completed", "", LATER)
    done = build_status(record, LATER)
    assert done["phase"] == "Succeeded"
    assert conditions(done)["Ready"] == ("False", "PodCompleted")
    assert conditions(done)["PodReadyToStartContainers"][0] == "False"
    terminated = done["containerStatuses"][0]["state"]["terminated"]
    assert terminated == {
        "exitCode": 0,
        "reason": "Completed",
        "startedAt": NOW,
        "finishedAt": LATER,
        "containerID": "process://x",
    }


def test_transition_time_kept_while_status_unchanged() -> None:
    record = new_record(pod(), NOW)
    first = build_status(record, NOW)
    second = build_status(record, LATER)
    assert [c["lastTransitionTime"] for c in first["conditions"]] == [
        c["lastTransitionTime"] for c in second["conditions"]
    ]


def test_failure_with_never_is_failed_and_onfailure_keeps_running() -> None:
    for policy, phase in (("Never", "Failed"), ("OnFailure", "Running"), ("Always", "Running")):
        record = new_record(pod(policy), NOW)
        record.main[0].set_running("id", NOW)
        record.main[0].set_terminated(1, "Error", "", LATER)
        assert pod_phase(record) == phase


def test_one_waiting_container_keeps_pod_pending() -> None:
    record = new_record(pod(main=2), NOW)
    record.main[0].set_running("id", NOW)
    record.main[1].set_waiting("ImagePullBackOff", "Back-off pulling image")
    assert pod_phase(record) == "Pending"


def test_failed_init_container_fails_never_pod() -> None:
    record = new_record(pod(init=2), NOW)
    record.init[0].set_terminated(0, "Completed", "", NOW)
    record.init[1].set_terminated(3, "Error", "", NOW)
    assert pod_phase(record) == "Failed"
    status = build_status(record, NOW)
    assert conditions(status)["Initialized"] == ("False", "ContainersNotInitialized")


def test_terminal_phase_is_latched() -> None:
    record = new_record(pod(), NOW)
    record.terminal_phase = "Failed"
    record.main[0].set_running("id", NOW)
    assert pod_phase(record) == "Failed"


def test_mark_lost_terminates_everything_unfinished() -> None:
    record = new_record(pod(init=1), NOW)
    record.init[0].set_terminated(0, "Completed", "", NOW)
    record.mark_lost(LATER)
    main = build_status(record, LATER)["containerStatuses"][0]["state"]["terminated"]
    assert (main["exitCode"], main["reason"]) == (137, "ContainerStatusUnknown")
    assert record.init[0].reason == "Completed"


def test_record_from_status_round_trip() -> None:
    record = new_record(pod(init=1), NOW)
    record.init[0].set_running("i", NOW)
    record.init[0].set_terminated(0, "Completed", "", LATER)
    record.main[0].set_running("m", LATER)
    api_pod = {**pod(init=1), "status": build_status(record, LATER)}
    restored = record_from_status(api_pod, LATER)
    assert restored.init[0].succeeded
    assert restored.main[0].state == "running"
    assert restored.main[0].container_id == "m"
