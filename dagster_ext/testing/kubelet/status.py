"""The kubelet's in-memory record of a pod and the pure function that renders its API status.

Phase and conditions follow the kubelet's `getPhase` and condition generators: any waiting
container keeps a pod Pending; running containers make it Running; when all have stopped,
Succeeded if every exit code is 0, else Failed (restartPolicy Never) or Running (restarting).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

JsonDict = dict[str, Any]
StateName = Literal["waiting", "running", "terminated"]
TERMINAL_PHASES = ("Succeeded", "Failed")
LOST_REASON = "ContainerStatusUnknown"
LOST_MESSAGE = "The container could not be located when the pod was terminated"


@dataclass
class ContainerRecord:
    name: str
    image: str
    init: bool = False
    state: StateName = "waiting"
    reason: str = ""
    message: str = ""
    exit_code: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    container_id: str = ""
    restart_count: int = 0
    last_state: JsonDict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.reason and self.state == "waiting":
            self.reason = "PodInitializing" if self.init else "ContainerCreating"

    def set_waiting(self, reason: str, message: str = "") -> None:
        self.state, self.reason, self.message = "waiting", reason, message

    def set_running(self, container_id: str, now: str) -> None:
        self.state, self.reason, self.message = "running", "", ""
        self.container_id, self.started_at, self.finished_at, self.exit_code = container_id, now, None, None

    def set_terminated(self, exit_code: int, reason: str, message: str, now: str) -> None:
        self.state, self.exit_code, self.reason, self.message = "terminated", exit_code, reason, message
        self.finished_at = now
        self.started_at = self.started_at or now

    def begin_restart(self, reason: str, message: str) -> None:
        """Keep the last termination as `lastState`, count the restart, wait again."""
        self.last_state = {"terminated": self.terminated_state()}
        self.restart_count += 1
        self.set_waiting(reason, message)

    @property
    def succeeded(self) -> bool:
        return self.state == "terminated" and self.exit_code == 0

    @property
    def ready(self) -> bool:
        return self.state == "running"

    def terminated_state(self) -> JsonDict:
        state: JsonDict = {
            "exitCode": self.exit_code if self.exit_code is not None else 137,
            "reason": self.reason,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
        }
        if self.message:
            state["message"] = self.message
        if self.container_id:
            state["containerID"] = self.container_id
        return state

    def as_status(self) -> JsonDict:
        if self.state == "running":
            state: JsonDict = {"running": {"startedAt": self.started_at}}
        elif self.state == "terminated":
            state = {"terminated": self.terminated_state()}
        else:
            waiting = {"reason": self.reason, **({"message": self.message} if self.message else {})}
            state = {"waiting": waiting}
        status: JsonDict = {
            "name": self.name,
            "image": self.image,
            "imageID": self.image if self.container_id else "",
            "ready": self.ready,
            "started": self.state == "running",
            "restartCount": self.restart_count,
            "state": state,
            "lastState": dict(self.last_state),
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status


@dataclass
class PodRecord:
    restart_policy: str
    init: list[ContainerRecord]
    main: list[ContainerRecord]
    start_time: str
    sandbox_ready: bool = False
    reason: str = ""
    message: str = ""
    terminal_phase: str | None = None
    transitions: dict[str, tuple[str, str]] = field(default_factory=dict)

    def mark_lost(self, now: str) -> None:
        """A terminal pod has no processes: never-started or lost containers become terminated."""
        for container in self.init + self.main:
            if container.state != "terminated":
                container.set_terminated(137, LOST_REASON, LOST_MESSAGE, now)


def _init_progress(init: Iterable[ContainerRecord]) -> tuple[int, int]:
    pending = failed = 0
    for c in init:
        if c.state == "terminated" and c.exit_code != 0:
            failed += 1
        elif not c.succeeded:
            pending += 1
    return pending, failed


def pod_phase(record: PodRecord) -> str:
    if record.terminal_phase:
        return record.terminal_phase
    pending_init, failed_init = _init_progress(record.init)
    if failed_init and record.restart_policy == "Never":
        return "Failed"
    running = waiting = stopped = succeeded = 0
    for c in record.main:
        if c.state == "running":
            running += 1
        elif c.state == "terminated":
            stopped += 1
            succeeded += c.exit_code == 0
        elif c.last_state.get("terminated"):
            stopped += 1
        else:
            waiting += 1
    if (pending_init or failed_init) and not (running or stopped):
        return "Pending"
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if record.restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if record.restart_policy == "Never" else "Running"
    return "Pending"


def _names(containers: Iterable[ContainerRecord]) -> str:
    return "[" + " ".join(c.name for c in containers) + "]"


def pod_conditions(record: PodRecord, phase: str) -> list[tuple[str, bool, str, str]]:
    """(type, status, reason, message) for each condition the kubelet owns."""
    terminal = phase in TERMINAL_PHASES
    incomplete = [c for c in record.init if not c.succeeded]
    unready = [c for c in record.main if not c.ready]
    if terminal:
        ready: tuple[bool, str, str] = (False, "PodCompleted", "")
    elif unready:
        ready = (False, "ContainersNotReady", f"containers with unready status: {_names(unready)}")
    else:
        ready = (True, "", "")
    initialized = (
        (True, "", "")
        if not incomplete
        else (False, "ContainersNotInitialized", f"containers with incomplete status: {_names(incomplete)}")
    )
    return [
        ("PodReadyToStartContainers", record.sandbox_ready and not terminal, "", ""),
        ("Initialized", *initialized),
        ("Ready", *ready),
        ("ContainersReady", *ready),
        ("PodScheduled", True, "", ""),
    ]


def _condition(
    spec: tuple[str, bool, str, str], *, since: Mapping[str, tuple[str, str]], now: str
) -> tuple[JsonDict, tuple[str, str]]:
    kind, ok, reason, message = spec
    status = "True" if ok else "False"
    previous = since.get(kind)
    changed_at = previous[1] if previous and previous[0] == status else now
    # explicit nulls: a strategic-merge patch keeps any key it does not mention
    cond: JsonDict = {
        "type": kind,
        "status": status,
        "reason": reason or None,
        "message": message or None,
        "lastProbeTime": None,
        "lastTransitionTime": changed_at,
    }
    return cond, (status, changed_at)


def build_status(record: PodRecord, now: str, host_ip: str = "127.0.0.1") -> JsonDict:
    """The pod's `status` as the kubelet would patch it. Updates `record.transitions`."""
    phase = pod_phase(record)
    conditions = []
    for spec in pod_conditions(record, phase):
        cond, record.transitions[spec[0]] = _condition(spec, since=record.transitions, now=now)
        conditions.append(cond)
    status: JsonDict = {
        "phase": phase,
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": host_ip,
        "podIPs": [{"ip": host_ip}],
        "startTime": record.start_time,
        "containerStatuses": [c.as_status() for c in record.main],
    }
    if record.init:
        status["initContainerStatuses"] = [c.as_status() for c in record.init]
    if record.reason:
        status["reason"] = record.reason
        status["message"] = record.message
    return status


def new_record(pod: JsonDict, now: str) -> PodRecord:
    spec = pod.get("spec") or {}
    return PodRecord(
        restart_policy=str(spec.get("restartPolicy") or "Always"),
        init=[
            ContainerRecord(str(c["name"]), str(c.get("image") or ""), init=True)
            for c in spec.get("initContainers") or ()
        ],
        main=[
            ContainerRecord(str(c["name"]), str(c.get("image") or "")) for c in spec.get("containers") or ()
        ],
        start_time=now,
    )


def _restore(container: ContainerRecord, reported: JsonDict, now: str) -> None:
    container.restart_count = int(reported.get("restartCount") or 0)
    container.container_id = str(reported.get("containerID") or "")
    container.last_state = dict(reported.get("lastState") or {})
    state = reported.get("state") or {}
    if terminated := state.get("terminated"):
        container.set_terminated(
            int(terminated.get("exitCode") or 0),
            str(terminated.get("reason") or ""),
            str(terminated.get("message") or ""),
            str(terminated.get("finishedAt") or now),
        )
        container.started_at = terminated.get("startedAt") or container.started_at
    elif running := state.get("running"):
        container.state, container.reason = "running", ""
        container.started_at = running.get("startedAt") or now


def record_from_status(pod: JsonDict, now: str) -> PodRecord:
    """Rebuild a record from the status a previous kubelet reported (after a restart)."""
    record = new_record(pod, now)
    status = pod.get("status") or {}
    record.start_time = str(status.get("startTime") or now)
    record.sandbox_ready = True
    reported = {
        str(cs.get("name")): cs
        for cs in [*(status.get("initContainerStatuses") or ()), *(status.get("containerStatuses") or ())]
    }
    for container in record.init + record.main:
        if container.name in reported:
            _restore(container, reported[container.name], now)
    return record
