"""Failure injection the real apiserver cannot produce on demand: 429 with Retry-After, 5xx,
dropped connections during a create, and an expired watch. Real-API behaviour is covered by
the integration tests."""

from __future__ import annotations

import json
from typing import Any

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from dagster_ext.k8s.client import creating
from dagster_ext.k8s.client.errors import K8sConflict, K8sForbidden, K8sNotFound, K8sTooManyRequests
from dagster_ext.k8s.client.retrying import Attempt, RetryPolicy, call_with_retries


class Response:
    def __init__(self, body: dict[str, Any]) -> None:
        self.data = json.dumps(body).encode()


def api_error(status: int, *, retry_after: str | None = None, message: str = "nope") -> ApiException:
    err = ApiException(status=status, reason="Reason")
    err.body = json.dumps({"kind": "Status", "message": message})
    err.headers = {"Retry-After": retry_after} if retry_after else {}
    return err


def test_429_honours_retry_after_and_then_succeeds() -> None:
    sleeps: list[float] = []
    outcomes: list[Any] = [api_error(429, retry_after="3"), api_error(503), "ok"]

    def request(_attempt: Attempt) -> str:
        item = outcomes.pop(0)
        if isinstance(item, Exception):
            raise item
        return str(item)

    assert call_with_retries(request, operation="op", sleep=sleeps.append) == "ok"
    assert sleeps == [3.0, 0.25]


def test_4xx_other_than_429_is_never_retried() -> None:
    calls: list[int] = []

    def request(attempt: Attempt) -> None:
        calls.append(attempt.number)
        raise api_error(403, message='jobs.batch is forbidden: User "x" cannot create')

    with pytest.raises(K8sForbidden, match="cannot create"):
        call_with_retries(request, operation="create", sleep=lambda _s: None)
    assert calls == [1]


def test_backoff_runs_out() -> None:
    policy = RetryPolicy(backoff_s=(0.0, 0.0))
    attempts: list[int] = []

    def request(attempt: Attempt) -> None:
        attempts.append(attempt.number)
        raise api_error(429)

    with pytest.raises(K8sTooManyRequests):
        call_with_retries(request, operation="op", policy=policy, sleep=lambda _s: None)
    assert attempts == [1, 2, 3]


class FakeBatch:
    """Create fails at the transport level after the API stored the object (the nasty case)."""

    def __init__(self, *, first_create_reached_api: bool, existing_token: str | None = None) -> None:
        self.first_create_reached_api = first_create_reached_api
        self.existing_token = existing_token
        self.stored: dict[str, Any] | None = None
        self.creates = 0

    def create_namespaced_job(self, namespace: str, body: dict[str, Any], **_: Any) -> Response:
        self.creates += 1
        if self.existing_token is not None and self.stored is None:
            self.stored = json.loads(json.dumps(body))
            self.stored["metadata"]["annotations"][creating.CREATION_TOKEN_ANNOTATION] = self.existing_token
        if self.stored is not None:
            raise api_error(409, message="already exists")
        if self.creates == 1:
            if self.first_create_reached_api:
                self.stored = body
            raise urllib3.exceptions.ProtocolError("connection reset")
        self.stored = body
        return Response(body)

    def read_namespaced_job(self, name: str, namespace: str, **_: Any) -> Response:
        if self.stored is None:
            raise api_error(404)
        return Response(self.stored)


@pytest.fixture
def fake_batch(monkeypatch: pytest.MonkeyPatch) -> Any:
    holder: dict[str, FakeBatch] = {}
    monkeypatch.setattr(creating, "batch_api", lambda _client: holder["batch"])
    return holder


MANIFEST = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "dagster-run-1"}, "spec": {}}


def test_retried_create_answered_409_for_our_own_job_is_success(fake_batch: Any) -> None:
    fake_batch["batch"] = batch = FakeBatch(first_create_reached_api=True)
    created = creating.create_k8s_job(None, namespace="ns", manifest=MANIFEST, sleep=lambda _s: None)
    assert created["metadata"]["name"] == "dagster-run-1"
    assert batch.creates == 2


def test_retried_create_after_lost_request_creates_once(fake_batch: Any) -> None:
    fake_batch["batch"] = batch = FakeBatch(first_create_reached_api=False)
    creating.create_k8s_job(None, namespace="ns", manifest=MANIFEST, sleep=lambda _s: None)
    assert batch.creates == 2


def test_409_for_someone_elses_job_is_a_conflict(fake_batch: Any) -> None:
    fake_batch["batch"] = FakeBatch(first_create_reached_api=False, existing_token="other")
    with pytest.raises(K8sConflict, match="already exists in namespace 'ns'"):
        creating.create_k8s_job(None, namespace="ns", manifest=MANIFEST, sleep=lambda _s: None)


def test_not_found_maps_to_class() -> None:
    def request(_attempt: Attempt) -> None:
        raise api_error(404)

    with pytest.raises(K8sNotFound):
        call_with_retries(request, operation="read", sleep=lambda _s: None)
