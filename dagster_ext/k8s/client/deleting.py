"""Delete K8s Jobs together with their pods.

Deleting a Job without a propagation policy orphans its pods (the API's default for Jobs), which
is how dagster-k8s users end up with stray pods; we always pass one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from dagster_ext.k8s.client._raw import batch_api, parse
from dagster_ext.k8s.client.errors import K8sNotFound
from dagster_ext.k8s.client.retrying import DEFAULT_RETRY, RetryPolicy, call_with_retries

Propagation = Literal["Foreground", "Background"]


def _options(propagation: Propagation, grace_period_s: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"propagationPolicy": propagation}
    if grace_period_s is not None:
        body["gracePeriodSeconds"] = grace_period_s
    return body


def delete_k8s_job(
    api_client: Any,
    *,
    namespace: str,
    name: str,
    propagation: Propagation = "Foreground",
    grace_period_s: int | None = None,
    policy: RetryPolicy = DEFAULT_RETRY,
    sleep: Callable[[float], None] | None = None,
) -> bool:
    """Delete one K8s Job; False when it was already gone."""
    batch = batch_api(api_client)
    kwargs = {"sleep": sleep} if sleep is not None else {}
    try:
        call_with_retries(
            lambda _attempt: batch.delete_namespaced_job(
                name,
                namespace,
                body=_options(propagation, grace_period_s),
                _preload_content=False,
                _request_timeout=policy.request_timeout_s,
            ),
            operation=f"delete K8s Job {namespace}/{name}",
            policy=policy,
            **kwargs,
        )
    except K8sNotFound:
        return False
    return True


def delete_k8s_jobs(
    api_client: Any,
    *,
    namespace: str,
    label_selector: str,
    propagation: Propagation = "Foreground",
    grace_period_s: int | None = None,
    policy: RetryPolicy = DEFAULT_RETRY,
    sleep: Callable[[float], None] | None = None,
) -> list[str]:
    """Delete every K8s Job matching `label_selector` in one request; returns their names."""
    batch = batch_api(api_client)
    kwargs = {"sleep": sleep} if sleep is not None else {}
    deleted = call_with_retries(
        lambda _attempt: parse(
            batch.delete_collection_namespaced_job(
                namespace,
                label_selector=label_selector,
                body=_options(propagation, grace_period_s),
                _preload_content=False,
                _request_timeout=policy.request_timeout_s,
            )
        ),
        operation=f"delete K8s Jobs {namespace} {label_selector}",
        policy=policy,
        **kwargs,
    )
    return [str(item["metadata"]["name"]) for item in deleted.get("items", [])]
