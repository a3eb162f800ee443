"""A resumed run's new run worker asks about steps the dead worker launched: the step handler
finds their K8s Jobs (one read each) instead of calling them healthy forever."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from dagster_ext.k8s.status import DiagnosisSettings
from dagster_ext.k8s.step_executor.handler import K8sStepHandler

NAME = "dagster-step-3f2a9c"


class _Gateway:
    def __init__(self, k8s_job: dict[str, Any] | None) -> None:
        self.k8s_job = k8s_job
        self.reads: list[tuple[str, str]] = []

    def read_k8s_job(self, *, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads.append((namespace, name))
        return self.k8s_job


def _handler(monkeypatch: pytest.MonkeyPatch, gateway: _Gateway) -> tuple[K8sStepHandler, list[str]]:
    step_handler = K8sStepHandler(
        executor_config={}, gateway=cast(Any, gateway), diagnosis=DiagnosisSettings(), environ={}
    )
    trackers: list[str] = []
    monkeypatch.setattr(step_handler, "_k8s_job_name", lambda ctx: NAME)
    monkeypatch.setattr(step_handler, "render", lambda ctx: SimpleNamespace(namespace="team-ns"))
    monkeypatch.setattr(step_handler, "_tracker", lambda namespace, run_id: trackers.append(namespace))
    return step_handler, trackers


CTX = cast(Any, SimpleNamespace(execute_step_args=SimpleNamespace(run_id="r1")))


def test_a_step_of_the_dead_worker_whose_k8s_job_is_gone_is_reported_not_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gateway = _Gateway(None)
    step_handler, trackers = _handler(monkeypatch, gateway)
    result = step_handler.check_step_health(CTX)
    assert not result.is_healthy and "no longer exists" in (result.unhealthy_reason or "")
    assert gateway.reads == [("team-ns", NAME)] and trackers == ["team-ns"]


def test_a_step_of_the_dead_worker_still_running_is_followed(monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = _Gateway({"metadata": {"name": NAME}})
    step_handler, trackers = _handler(monkeypatch, gateway)
    assert step_handler.check_step_health(CTX).is_healthy
    assert step_handler._namespaces[NAME] == "team-ns"  # from now on, answered by the tracker
    assert trackers == ["team-ns"]
