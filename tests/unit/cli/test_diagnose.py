"""`dagster-ext diagnose` against a fake gateway holding objects from the diagnosis corpus."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from dagster_ext.cli import diagnose as command
from dagster_ext.cli import main

CORPUS = Path(__file__).resolve().parents[1] / "k8s" / "status" / "corpus"
RUN_ID = "0f3c2a9e-5b1d-4c7e-9a2f-1d2e3f4a5b6c"


def load(name: str, *, job_name: str | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A corpus case's K8s Job and pods, renamed and labelled with the run id (times made recent)."""
    now = datetime.now(timezone.utc)
    text = (CORPUS / f"{name}.yaml").read_text()
    for old, ago_s in (("2026-03-10T11:59:55Z", 5), ("2026-03-10T11:50:00Z", 600)):
        text = text.replace(old, (now - timedelta(seconds=ago_s)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    case = yaml.safe_load(text)
    k8s_job, pods = copy.deepcopy(case["k8s_job"]), copy.deepcopy(case.get("pods") or [])
    name_ = job_name or k8s_job["metadata"]["name"]
    k8s_job["metadata"].update(name=name_, labels={"dagster/run-id": RUN_ID})
    for index, pod in enumerate(pods):
        pod["metadata"]["name"] = f"{name_}-{index}"
        pod["metadata"]["labels"] = {"job-name": name_, "dagster/run-id": RUN_ID}
    return k8s_job, pods


class FakeGateway:
    def __init__(
        self, *cases: tuple[dict[str, Any], list[dict[str, Any]]], bare: tuple[dict[str, Any], ...] = ()
    ) -> None:
        self.jobs = {j["metadata"]["name"]: j for j, _ in cases}
        self.pods = {p["metadata"]["name"]: p for _, pods in cases for p in pods}
        self.pods.update({p["metadata"]["name"]: p for p in bare})
        self.closed = False

    def read_k8s_job(self, *, namespace: str, name: str) -> dict[str, Any] | None:
        return self.jobs.get(name)

    def read_pod(self, *, namespace: str, name: str) -> dict[str, Any] | None:
        return self.pods.get(name)

    def list_k8s_jobs(self, *, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        key, value = label_selector.split("=")
        return [j for j in self.jobs.values() if j["metadata"].get("labels", {}).get(key) == value]

    def list_pods(self, *, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        job = label_selector.removeprefix("job-name=")
        return [p for p in self.pods.values() if p["metadata"].get("labels", {}).get("job-name") == job]

    def list_events(self, *, namespace: str, involved_kind: str, involved_name: str) -> list[dict[str, Any]]:
        return []

    def read_pod_log_tail(
        self, *, namespace: str, pod: str, container: str = "dagster", tail_lines: int = 25
    ) -> str:
        return "loading partitions\nMemoryError\n"

    def close(self) -> None:
        self.closed = True


def invoke(monkeypatch: pytest.MonkeyPatch, gateway: FakeGateway, *args: str) -> Any:
    monkeypatch.setattr(command, "K8sGateway", lambda settings: gateway)
    return CliRunner().invoke(main, ["diagnose", *args, "-n", "dagster"])


def test_a_k8s_job_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = FakeGateway(load("oom-killed-137"))
    result = invoke(monkeypatch, gateway, "dagster-step-3f2a9c")
    assert result.exit_code == 1, result.output
    assert "K8s Job dagster/dagster-step-3f2a9c: failed" in result.output
    assert (
        "OOMKilled (pod dagster-step-3f2a9c-0, container dagster, node ip-10-0-3-17.ec2.internal)"
        in result.output
    )
    assert "Category: resources (not retryable)" in result.output
    assert "What to change: Raise `container_config.resources.limits.memory`" in result.output
    assert "dagster (main): terminated OOMKilled exit code 137" in result.output
    assert "MemoryError" in result.output and gateway.closed


def test_a_pod_is_diagnosed_with_its_k8s_job(monkeypatch: pytest.MonkeyPatch) -> None:
    result = invoke(
        monkeypatch, FakeGateway(load("disruption-preemption-by-scheduler")), "dagster-step-3f2a9c-0"
    )
    assert "K8s Job dagster/dagster-step-3f2a9c: failed" in result.output
    assert "Preempted" in result.output and "(retryable)" in result.output


def test_a_pod_without_a_k8s_job(monkeypatch: pytest.MonkeyPatch) -> None:
    _, (pod,) = load("evicted-memory-pressure")
    pod["metadata"].update(name="lonely", labels={})
    result = invoke(monkeypatch, FakeGateway(bare=(pod,)), "lonely")
    assert result.exit_code == 1 and "pod dagster/lonely: failed" in result.output
    assert "Evicted" in result.output and "low on resource: memory" in result.output


def test_a_run_id_lists_all_its_k8s_jobs_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = FakeGateway(
        load("sidecar-sigterm-after-success", job_name="dagster-run-x"),
        load("image-invalid-name", job_name="dagster-step-a"),
        load("unschedulable-waiting", job_name="dagster-step-b"),
    )
    result = invoke(monkeypatch, gateway, RUN_ID, "--json")
    rows = [json.loads(line) for line in result.output.splitlines()]
    by_name = {row["name"]: row for row in rows}
    assert by_name["dagster-run-x"]["state"] == "succeeded"
    assert (by_name["dagster-step-a"]["reason"], by_name["dagster-step-a"]["category"]) == (
        "InvalidImageName",
        "image",
    )
    assert (
        by_name["dagster-step-b"]["state"] == "pending"
        and by_name["dagster-step-b"]["reason"] == "Unschedulable"
    )
    assert "0/3 nodes are available" in by_name["dagster-step-b"]["summary"]
    assert result.exit_code == 1


def test_a_healthy_target_exits_0_and_an_unknown_one_2(monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = FakeGateway(load("recovered-restart-running"))
    assert invoke(monkeypatch, gateway, "dagster-step-3f2a9c").exit_code == 0
    missing = invoke(monkeypatch, gateway, "nope")
    assert missing.exit_code == 2 and "no K8s Job, pod or run 'nope' in namespace dagster" in missing.output
