"""The nodes' allocatable resources, read only when a pod waits for lack of them, and not often.

A step pod that the scheduler cannot place for "Insufficient cpu" either waits behind other pods
(a fan-out on a small cluster) or asks for more than any node has; only the nodes say which (see
`dagster_ext.k8s.status.capacity`). Listing nodes needs a ClusterRole: without it the answer is
"unknown" and every Unschedulable pod gets the unschedulable grace, as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from dagster_ext.k8s.client import K8sGateway
from dagster_ext.k8s.client.errors import K8sApiError, K8sForbidden
from dagster_ext.k8s.status import NodeCapacity, short_of_capacity_only
from dagster_ext.k8s.status.pods import JsonDict, unschedulable_since

log = logging.getLogger(__name__)

REFRESH_S = 60.0


def short_of_resources(pods: Sequence[JsonDict]) -> bool:
    """Whether any pod is Unschedulable for nothing but missing resources."""
    for pod in pods:
        found = unschedulable_since(pod)
        if found is not None and short_of_capacity_only(found[1]):
            return True
    return False


class NodeCapacityCache:
    def __init__(
        self,
        gateway: K8sGateway,
        *,
        refresh_s: float = REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gateway = gateway
        self._refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._capacity: NodeCapacity | None = None
        self._read_at: float | None = None
        self._denied = False

    def for_pods(self, pods: Sequence[JsonDict]) -> NodeCapacity | None:
        """The capacity, when one of `pods` needs it to be judged; else None without a request."""
        return self.get() if short_of_resources(pods) else None

    def get(self) -> NodeCapacity | None:
        with self._lock:
            if self._denied:
                return None
            now = self._clock()
            if self._read_at is not None and now - self._read_at < self._refresh_s:
                return self._capacity
            self._read_at = now
            try:
                self._capacity = NodeCapacity.from_nodes(self._gateway.list_nodes())
            except K8sForbidden:
                log.warning(
                    "cannot list nodes (RBAC): a pod short of CPU or memory is failed after the "
                    "unschedulable grace even if it only waits for busy nodes; grant `list nodes` to "
                    "tell the two apart"
                )
                self._denied = True
                return None
            except K8sApiError as err:
                log.warning("cannot list nodes (%s): using the last answer", type(err).__name__)
            return self._capacity
