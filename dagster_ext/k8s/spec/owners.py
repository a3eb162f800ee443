"""Which pod am I? The downward-API env vars our run and step pods carry, and the owner
reference built from them.

K8s Jobs a run or step starts (step Jobs, `execute_k8s_job` Jobs) are owned by the pod that
started them, so deleting a run's K8s Job garbage-collects everything below it. Reading the owner's
UID from the API would cost one `GET pod` per run worker; the downward API hands it over for free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

POD_NAME_ENV: Final = "DAGSTER_EXT_POD_NAME"
POD_NAMESPACE_ENV: Final = "DAGSTER_EXT_POD_NAMESPACE"
POD_UID_ENV: Final = "DAGSTER_EXT_POD_UID"

_FIELDS: Final = (
    (POD_NAME_ENV, "metadata.name"),
    (POD_NAMESPACE_ENV, "metadata.namespace"),
    (POD_UID_ENV, "metadata.uid"),
)


def pod_identity_env() -> list[dict[str, Any]]:
    """Env entries (`valueFrom.fieldRef`) that tell the container its own pod's name, namespace
    and UID."""
    return [{"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}} for name, path in _FIELDS]


def pod_owner_reference(environ: Mapping[str, str], *, namespace: str) -> dict[str, Any] | None:
    """An ownerReference to the current pod, or None outside one of our pods or when the new
    object lives in another namespace (owner references cannot cross namespaces)."""
    name, pod_namespace, uid = (environ.get(key) for key, _ in _FIELDS)
    if not (name and uid and pod_namespace == namespace):
        return None
    return {"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid}
