"""The one retry policy for Kubernetes API requests, as data.

Retry 429 (honouring Retry-After), 5xx and transport errors; never other 4xx. The loop is the
only place that sleeps between attempts, and its clock and sleep are injectable for tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from dagster_ext.k8s.client.errors import (
    K8sApiError,
    K8sServerError,
    K8sTooManyRequests,
    K8sUnavailable,
    is_transport_error,
    translate,
)

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """`backoff_s[i]` is the pause before attempt i+2; its length bounds the number of retries."""

    backoff_s: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    max_retry_after_s: float = 30.0
    # (connect, read) seconds for one unary request (not watches or log streams): an answer lost on
    # the wire (a blackholed connection) ends in a timeout that is retried, instead of a hang.
    request_timeout_s: tuple[float, float] = (10.0, 60.0)
    retry_server_errors: bool = True
    retry_transport_errors: bool = True
    retryable: tuple[type[K8sApiError], ...] = field(
        default=(K8sTooManyRequests, K8sServerError, K8sUnavailable)
    )

    def should_retry(self, err: K8sApiError) -> bool:
        if isinstance(err, K8sServerError):
            return self.retry_server_errors
        if isinstance(err, K8sUnavailable):
            return self.retry_transport_errors
        return isinstance(err, self.retryable)

    def pause_s(self, attempt: int, err: K8sApiError) -> float:
        """Pause before retry number `attempt` (1-based); a server's Retry-After wins when longer."""
        base = self.backoff_s[attempt - 1]
        if err.retry_after_s is not None:
            return max(base, min(err.retry_after_s, self.max_retry_after_s))
        return base


NO_RETRY = RetryPolicy(backoff_s=())
DEFAULT_RETRY = RetryPolicy()


@dataclass
class Attempt:
    """What the request loop knows when it calls the request again."""

    number: int = 1
    last_error: K8sApiError | None = None
    # An earlier attempt failed in a way that does not prove the API left the object untouched
    # (no response, or a 5xx such as a gateway timeout): a create may already have happened.
    earlier_may_have_applied: bool = False


def call_with_retries(
    request: Callable[[Attempt], T],
    *,
    operation: str,
    policy: RetryPolicy = DEFAULT_RETRY,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `request` until it succeeds, a non-retryable error occurs, or the backoff runs out.

    `request` receives the `Attempt` so that non-idempotent calls (create) can tell a genuine
    409 from the echo of an earlier attempt that reached the API before the connection broke.
    """
    attempt = Attempt()
    while True:
        try:
            return request(attempt)
        except Exception as raw:
            err = translate(raw, operation=operation)
            if attempt.number > len(policy.backoff_s) or not policy.should_retry(err):
                raise err from raw
            pause = policy.pause_s(attempt.number, err)
            log.debug(
                "%s failed (%s); retry %d in %.2fs",
                operation,
                err,
                attempt.number,
                pause,
                # structured, for tests and log pipelines: what the server asked for and what we did
                extra={"k8s_status": err.status, "retry_after_s": err.retry_after_s, "pause_s": pause},
            )
            attempt.earlier_may_have_applied |= is_transport_error(raw) or isinstance(
                err, K8sUnavailable | K8sServerError
            )
            attempt.last_error = err
            attempt.number += 1
            sleep(pause)
