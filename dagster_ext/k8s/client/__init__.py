"""The Kubernetes gateway: the only package that imports the `kubernetes` client.

Everything above it (launcher, step executor, Celery K8s mode, K8s Job helpers) holds a
`K8sGateway` and exchanges plain camelCase dicts with it.
"""

from dagster_ext.k8s.client.connecting import ConnectionSettings, running_in_pod
from dagster_ext.k8s.client.errors import (
    K8sApiError,
    K8sConflict,
    K8sForbidden,
    K8sGone,
    K8sNotFound,
    K8sServerError,
    K8sTooManyRequests,
    K8sUnavailable,
)
from dagster_ext.k8s.client.gateway import K8sGateway
from dagster_ext.k8s.client.retrying import DEFAULT_RETRY, RetryPolicy
from dagster_ext.k8s.client.watching import ResourceWatch, WatchEvent, WatchSettings

__all__ = [
    "DEFAULT_RETRY",
    "ConnectionSettings",
    "K8sApiError",
    "K8sConflict",
    "K8sForbidden",
    "K8sGateway",
    "K8sGone",
    "K8sNotFound",
    "K8sServerError",
    "K8sTooManyRequests",
    "K8sUnavailable",
    "ResourceWatch",
    "RetryPolicy",
    "WatchEvent",
    "WatchSettings",
    "running_in_pod",
]
