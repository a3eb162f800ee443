"""Facts about one pod, read from its status dict (camelCase, as the API returns it)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

JsonDict = dict[str, Any]


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class ContainerStatus:
    """One container's status with what its spec says about it (kind: main, init or sidecar)."""

    name: str
    kind: str
    status: JsonDict

    @property
    def state(self) -> JsonDict:
        return dict(self.status.get("state") or {})

    @property
    def terminated(self) -> JsonDict | None:
        found = self.state.get("terminated")
        return dict(found) if found else None

    @property
    def waiting(self) -> JsonDict | None:
        found = self.state.get("waiting")
        return dict(found) if found else None

    @property
    def last_terminated(self) -> JsonDict | None:
        found = (self.status.get("lastState") or {}).get("terminated")
        return dict(found) if found else None

    @property
    def restarts(self) -> int:
        return int(self.status.get("restartCount") or 0)


def _sidecars(pod: JsonDict) -> set[str]:
    """Native sidecars: init containers with `restartPolicy: Always` (they outlive the init phase)."""
    spec = pod.get("spec") or {}
    return {
        str(c.get("name")) for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"
    }


def containers(pod: JsonDict) -> list[ContainerStatus]:
    """Main containers first, then init containers, then sidecars: the order in which we blame."""
    status = pod.get("status") or {}
    sidecars = _sidecars(pod)
    mains = [ContainerStatus(str(s.get("name")), "main", s) for s in status.get("containerStatuses") or ()]
    inits = [
        ContainerStatus(str(s.get("name")), "sidecar" if s.get("name") in sidecars else "init", s)
        for s in status.get("initContainerStatuses") or ()
    ]
    return [*mains, *(c for c in inits if c.kind == "init"), *(c for c in inits if c.kind == "sidecar")]


def container_statuses(pod: JsonDict) -> Iterator[JsonDict]:
    for found in containers(pod):
        yield found.status


def pod_name(pod: JsonDict) -> str:
    return str((pod.get("metadata") or {}).get("name") or "")


def node_name(pod: JsonDict) -> str | None:
    found = (pod.get("spec") or {}).get("nodeName")
    return str(found) if found else None


def phase(pod: JsonDict) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def is_deleting(obj: JsonDict) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def condition(obj: JsonDict, kind: str) -> JsonDict | None:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == kind:
            return dict(cond)
    return None


def condition_true(obj: JsonDict, kind: str) -> JsonDict | None:
    found = condition(obj, kind)
    return found if found and found.get("status") == "True" else None


def main_containers_succeeded(pod: JsonDict) -> bool:
    """Every main container ended with 0: whatever a sidecar did afterwards is not a failure."""
    mains = [c for c in containers(pod) if c.kind == "main"]
    if phase(pod) == "Succeeded":
        return True
    return bool(mains) and all(
        (t := c.terminated) is not None
        and int(t.get("exitCode") or 0) == 0
        and t.get("reason") != "OOMKilled"
        for c in mains
    )


def is_failure(terminated: JsonDict, *, pod_failed: bool) -> bool:
    """Non-zero exit, or OOMKilled (which the runtime may report with exit code 0 when a child
    process was the one killed; then only a failed pod makes it a failure)."""
    if int(terminated.get("exitCode") or 0) != 0:
        return True
    return terminated.get("reason") == "OOMKilled" and pod_failed


def first_waiting(pod: JsonDict, reasons: frozenset[str]) -> tuple[str, JsonDict] | None:
    for found in containers(pod):
        waiting = found.waiting
        if waiting and waiting.get("reason") in reasons:
            return found.name, waiting
    return None


def unschedulable_since(pod: JsonDict) -> tuple[datetime | None, str] | None:
    cond = condition(pod, "PodScheduled")
    if cond and cond.get("status") == "False" and cond.get("reason") == "Unschedulable":
        return parse_time(cond.get("lastTransitionTime")), str(cond.get("message") or "")
    return None


def signal_name(exit_code: int) -> str | None:
    """SIGKILL for 137, SIGTERM for 143: shells and runtimes report a signal as 128 + its number."""
    if exit_code <= 128:
        return None
    try:
        return signal.Signals(exit_code - 128).name
    except ValueError:
        return None


def container_spec(pod: JsonDict, container: str) -> JsonDict:
    spec = pod.get("spec") or {}
    for c in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        if c.get("name") == container:
            return dict(c)
    return {}


def memory_limit(pod: JsonDict, container: str) -> str | None:
    limits = (container_spec(pod, container).get("resources") or {}).get("limits") or {}
    found = limits.get("memory")
    return str(found) if found else None
