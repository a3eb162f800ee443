"""Kubernetes API failures as dagster-ext exceptions.

HTTP statuses are mapped to classes in exactly one place (`translate`), so callers branch on
types (`except K8sNotFound`) instead of comparing status codes scattered through adapters.
"""

from __future__ import annotations

from typing import Any

from dagster_ext.errors import DagsterExtError


class K8sApiError(DagsterExtError):
    """A Kubernetes API request failed; `status` is the HTTP status (0 = no response)."""

    status: int = 0

    def __init__(self, message: str, *, status: int = 0, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class K8sUnavailable(K8sApiError):
    """No HTTP answer: connection refused/reset, TLS or read timeout. Retryable."""


class K8sBadRequest(K8sApiError):
    """400/422: the API rejected the object; the message carries the API's field errors."""


class K8sUnauthorized(K8sApiError):
    """401: credentials were rejected."""


class K8sForbidden(K8sApiError):
    """403: RBAC denied the request; the message names verb and resource."""


class K8sNotFound(K8sApiError):
    """404."""


class K8sConflict(K8sApiError):
    """409: already exists, or a precondition/resourceVersion conflict."""


class K8sGone(K8sApiError):
    """410: a watch's resourceVersion is too old; re-list."""


class K8sTooManyRequests(K8sApiError):
    """429: throttled by API priority and fairness; honour `retry_after_s`."""


class K8sServerError(K8sApiError):
    """5xx."""


_BY_STATUS: dict[int, type[K8sApiError]] = {
    400: K8sBadRequest,
    401: K8sUnauthorized,
    403: K8sForbidden,
    404: K8sNotFound,
    409: K8sConflict,
    410: K8sGone,
    422: K8sBadRequest,
    429: K8sTooManyRequests,
}


def class_for_status(status: int) -> type[K8sApiError]:
    if status >= 500:
        return K8sServerError
    return _BY_STATUS.get(status, K8sApiError)


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _api_message(body: Any, reason: str) -> str:
    """The API's own `Status.message` is the useful part; fall back to the HTTP reason."""
    import json

    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.startswith("{"):
        try:
            message = json.loads(body).get("message")
        except ValueError:
            message = None
        if message:
            return str(message)
    return reason or "no reason given"


def translate(err: BaseException, *, operation: str) -> K8sApiError:
    """Turn a kubernetes-client or transport exception into our class for its status."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(err, K8sApiError):
        return err
    if isinstance(err, ApiException):
        status = int(err.status or 0)
        message = f"{operation}: HTTP {status}: {_api_message(err.body, str(err.reason or ''))}"
        if status == 0:
            return K8sUnavailable(message, status=0)
        return class_for_status(status)(message, status=status, retry_after_s=_retry_after(err.headers))
    return K8sUnavailable(f"{operation}: {type(err).__name__}: {err}", status=0)


def is_transport_error(err: BaseException) -> bool:
    """Errors raised below HTTP (no status): the request may or may not have reached the API."""
    import urllib3.exceptions

    return isinstance(err, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError | OSError)
