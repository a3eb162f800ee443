"""Wait for a Kubernetes object to reach a state, by list-then-watch (not by sleeping and polling).

For tests: `wait_for(core_v1.list_namespaced_pod, "ns", lambda pod: ..., timeout_s=60)` lists once,
returns a match at once, otherwise watches from the list's resourceVersion and re-lists when the watch
ends or expires (410 Gone). A timeout raises `WaitTimeout` naming what was awaited and the last object
seen, which is what a failing test needs to show.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dagster_ext.errors import DagsterExtError

ListFn = Callable[..., Any]


class WaitTimeout(DagsterExtError, AssertionError):
    """The awaited state was not reached in time (an AssertionError, so pytest shows it as a failure)."""


def wait_for(
    list_fn: ListFn,
    namespace: str,
    predicate: Callable[[Any], bool],
    *,
    timeout_s: float,
    what: str = "",
    **selectors: str,
) -> Any:
    """The first object listed or watched by `list_fn(namespace, **selectors)` satisfying `predicate`."""
    from kubernetes import watch
    from kubernetes.client.exceptions import ApiException

    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        listing = list_fn(namespace, **selectors)
        for item in listing.items:
            last = item
            if predicate(item):
                return item
        remaining = max(1, int(deadline - time.monotonic()))
        stream = watch.Watch().stream(
            list_fn,
            namespace,
            resource_version=listing.metadata.resource_version,
            timeout_seconds=min(remaining, 30),
            **selectors,
        )
        try:
            for event in stream:
                last = event["object"]
                if event["type"] != "DELETED" and predicate(last):
                    return last
        except ApiException as err:
            if err.status != 410:
                raise
    raise WaitTimeout(
        f"timed out after {timeout_s:.0f}s waiting for {what or predicate!r}; last seen: {last}"
    )


def wait_for_named(
    list_fn: ListFn,
    namespace: str,
    name: str,
    predicate: Callable[[Any], bool],
    *,
    timeout_s: float,
    what: str = "",
) -> Any:
    return wait_for(
        list_fn,
        namespace,
        predicate,
        timeout_s=timeout_s,
        what=what or f"{name}: {predicate!r}",
        field_selector=f"metadata.name={name}",
    )


def wait_until_gone(read_fn: Callable[[], Any], *, timeout_s: float, what: str) -> None:
    """Until `read_fn()` raises 404. Deletion has no watch event we could miss-order, so a short poll."""
    from kubernetes.client.exceptions import ApiException

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            read_fn()
        except ApiException as err:
            if err.status == 404:
                return
            raise
        time.sleep(0.2)
    raise WaitTimeout(f"{what} still exists after {timeout_s:.0f}s")


def job_condition(k8s_job: Any) -> str | None:
    """ "Complete" / "Failed" once the Job has that condition set to True, else None."""
    for condition in (k8s_job.status and k8s_job.status.conditions) or []:
        if condition.type in ("Complete", "Failed") and condition.status == "True":
            return str(condition.type)
    return None
