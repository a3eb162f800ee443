"""Create K8s Jobs exactly once, even across retries.

A create whose connection broke may have reached the API. Each manifest carries a creation
token annotation; a 409 on a *retried* create is success when the existing K8s Job has our token,
and a genuine name clash otherwise.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from dagster_ext.k8s.client._raw import JsonDict, batch_api, parse
from dagster_ext.k8s.client.errors import K8sConflict
from dagster_ext.k8s.client.retrying import DEFAULT_RETRY, Attempt, RetryPolicy, call_with_retries

CREATION_TOKEN_ANNOTATION = "dagster-ext.io/creation-token"


def with_creation_token(manifest: JsonDict) -> JsonDict:
    """A copy of `manifest` whose metadata carries a fresh creation token (kept if already set)."""
    metadata = dict(manifest.get("metadata") or {})
    annotations = dict(metadata.get("annotations") or {})
    annotations.setdefault(CREATION_TOKEN_ANNOTATION, uuid.uuid4().hex)
    metadata["annotations"] = annotations
    return {**manifest, "metadata": metadata}


def _token(obj: JsonDict) -> str | None:
    token = ((obj.get("metadata") or {}).get("annotations") or {}).get(CREATION_TOKEN_ANNOTATION)
    return str(token) if token is not None else None


def create_k8s_job(
    api_client: Any,
    *,
    namespace: str,
    manifest: JsonDict,
    policy: RetryPolicy = DEFAULT_RETRY,
    sleep: Callable[[float], None] | None = None,
) -> JsonDict:
    """Create the K8s Job and return the API's copy of it."""
    body = with_creation_token(manifest)
    name = str(body["metadata"]["name"])
    batch = batch_api(api_client)

    def request(attempt: Attempt) -> JsonDict:
        try:
            return parse(
                batch.create_namespaced_job(
                    namespace, body, _preload_content=False, _request_timeout=policy.request_timeout_s
                )
            )
        except Exception as err:
            if getattr(err, "status", None) == 409 and attempt.earlier_may_have_applied:
                existing = parse(
                    batch.read_namespaced_job(
                        name, namespace, _preload_content=False, _request_timeout=policy.request_timeout_s
                    )
                )
                if _token(existing) == _token(body):
                    return existing
            raise

    kwargs = {"sleep": sleep} if sleep is not None else {}
    try:
        return call_with_retries(
            request, operation=f"create K8s Job {namespace}/{name}", policy=policy, **kwargs
        )
    except K8sConflict as err:
        raise K8sConflict(
            f"{err} (a K8s Job named {name!r} already exists in namespace {namespace!r} and was not"
            " created by this launch)",
            status=409,
        ) from err
