"""Facts about one pod, read from its status dict (camelCase, as the API returns it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

JsonDict = dict[str, Any]

IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})
CONFIG_REASONS = frozenset({"CreateContainerConfigError", "CreateContainerError", "RunContainerError"})


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def container_statuses(pod: JsonDict) -> Iterator[JsonDict]:
    status = pod.get("status") or {}
    yield from status.get("initContainerStatuses") or ()
    yield from status.get("containerStatuses") or ()


def pod_name(pod: JsonDict) -> str:
    return str((pod.get("metadata") or {}).get("name") or "")


def condition(obj: JsonDict, kind: str) -> JsonDict | None:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == kind:
            return dict(cond)
    return None


def first_terminated_failure(pod: JsonDict) -> tuple[str, JsonDict] | None:
    """(container name, terminated state) of the first container that ended unsuccessfully."""
    for cs in container_statuses(pod):
        terminated = (cs.get("state") or {}).get("terminated")
        if terminated and int(terminated.get("exitCode") or 0) != 0:
            return str(cs.get("name")), dict(terminated)
    return None


def first_waiting(pod: JsonDict, reasons: frozenset[str]) -> tuple[str, JsonDict] | None:
    for cs in container_statuses(pod):
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason") in reasons:
            return str(cs.get("name")), dict(waiting)
    return None


def is_evicted(pod: JsonDict) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Failed" and status.get("reason") == "Evicted"


def unschedulable_since(pod: JsonDict) -> tuple[datetime | None, str] | None:
    cond = condition(pod, "PodScheduled")
    if cond and cond.get("status") == "False" and cond.get("reason") == "Unschedulable":
        return parse_time(cond.get("lastTransitionTime")), str(cond.get("message") or "")
    return None
