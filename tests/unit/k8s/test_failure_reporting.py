"""Every adapter reports a failure with the taxonomy's words and metadata: a retryable disruption
says "preempted"/"evicted", and the event carries reason, category, pod, container and node."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import yaml
from dagster import Failure, job, op

from dagster_ext.k8s.k8s_job.running import K8sJobError
from dagster_ext.k8s.launcher import health
from dagster_ext.k8s.launcher.run_launcher import K8sRunLauncher
from dagster_ext.k8s.status import Diagnosis, DiagnosisSettings, diagnose
from dagster_ext.k8s.step_executor import handler as handler_module
from dagster_ext.k8s.step_executor.handler import K8sStepHandler

CORPUS = Path(__file__).parent / "status" / "corpus"


def corpus_diagnosis(name: str) -> Diagnosis:
    case = yaml.safe_load((CORPUS / f"{name}.yaml").read_text())
    return diagnose(
        k8s_job=case.get("k8s_job"),
        pods=case.get("pods") or [],
        events=case.get("events") or [],
        now=datetime.fromisoformat(str(case["now"]).replace("Z", "+00:00")),
    )


def texts(metadata: dict[str, Any]) -> dict[str, str]:
    return {key: getattr(value, "text", value) for key, value in metadata.items()}


class _Tracker:
    def __init__(self, found: Diagnosis) -> None:
        self.found = found

    def k8s_job(self, name: str) -> dict[str, Any]:
        return {"metadata": {"name": name}}

    def observe(self, name: str) -> Diagnosis:
        return self.found

    def diagnose(self, name: str, *, log_tail: str | None = None) -> Diagnosis:
        return self.found


class _Gateway:
    def read_pod_log_tail(self, *, namespace: str, pod: str, container: str, tail_lines: int) -> str:
        return "allocating the frame\n"


def step_health(
    monkeypatch: Any, found: Diagnosis, tracker: _Tracker | None = None
) -> tuple[Any, list[dict[str, Any]]]:
    step_handler = K8sStepHandler(
        executor_config={}, gateway=cast(Any, _Gateway()), diagnosis=DiagnosisSettings(), environ={}
    )
    step_handler._namespaces["dagster-step-3f2a9c"] = "dagster"
    monkeypatch.setattr(step_handler, "_k8s_job_name", lambda ctx: "dagster-step-3f2a9c")
    monkeypatch.setattr(step_handler, "_step_key", lambda ctx: "work")
    monkeypatch.setattr(step_handler, "_tracker", lambda namespace, run_id: tracker or _Tracker(found))
    events: list[dict[str, Any]] = []

    def engine_event(step_context: Any, message: str, event_specific_data: Any) -> None:
        events.append({"message": message, "metadata": texts(event_specific_data.metadata)})

    monkeypatch.setattr(handler_module.DagsterEvent, "engine_event", engine_event)
    ctx = SimpleNamespace(execute_step_args=SimpleNamespace(run_id="r1"), get_step_context=lambda key: None)
    result = step_handler.check_step_health(cast(Any, ctx))
    step_handler.check_step_health(cast(Any, ctx))  # asked again before Dagster acts: one event
    return result, events


def test_a_preempted_step_is_reported_as_preempted_and_retryable(monkeypatch: Any) -> None:
    result, events = step_health(monkeypatch, corpus_diagnosis("disruption-preemption-by-scheduler"))
    assert not result.is_healthy
    assert result.unhealthy_reason.startswith("K8s Job dagster-step-3f2a9c preempted (retryable")
    assert "PreemptionByScheduler" in result.unhealthy_reason
    assert "priorityClassName" in result.unhealthy_reason  # what to change
    (event,) = events
    assert event["message"].startswith("Step pod preempted: Preempted (pod dagster-step-3f2a9c-7xkqp")
    assert event["metadata"] == {
        "reason": "Preempted",
        "category": "disruption",
        "retryable": "true",
        "pod": "dagster-step-3f2a9c-7xkqp",
        "node": "ip-10-0-3-17.ec2.internal",
        "K8s Job": "dagster-step-3f2a9c",
        "Kubernetes namespace": "dagster",
    }


def test_an_evicted_step_says_evicted(monkeypatch: Any) -> None:
    result, events = step_health(monkeypatch, corpus_diagnosis("evicted-memory-pressure"))
    assert "dagster-step-3f2a9c evicted (retryable" in result.unhealthy_reason
    assert events[0]["metadata"]["reason"] == "Evicted"


def test_an_oom_killed_step_names_container_and_limit_and_is_not_retryable(monkeypatch: Any) -> None:
    result, events = step_health(monkeypatch, corpus_diagnosis("oom-killed-137"))
    assert "ran out of memory: OOMKilled" in result.unhealthy_reason
    assert "retryable" not in result.unhealthy_reason and "512Mi" in result.unhealthy_reason
    metadata = events[0]["metadata"]
    assert (metadata["container"], metadata["exit code"], metadata["category"]) == (
        "dagster",
        "137",
        "resources",
    )


def test_the_run_launcher_reports_the_reason_with_metadata_once(monkeypatch: Any) -> None:
    found = corpus_diagnosis("node-shutdown-terminated")
    reported: list[tuple[str, dict[str, str]]] = []
    instance = SimpleNamespace(
        report_engine_event=lambda message, run, data, cls=None: reported.append(
            (message, texts(data.metadata))
        )
    )
    monkeypatch.setattr(K8sRunLauncher, "_instance", property(lambda self: instance))
    monkeypatch.setattr(K8sRunLauncher, "_current_k8s_job", lambda self, run: ("dagster", "dagster-run-r1"))
    monkeypatch.setattr(health, "observe", lambda *a, **kw: health.Observation(None, [], [], found))
    launcher = K8sRunLauncher()
    run = cast(Any, SimpleNamespace(run_id="r1", status=None))
    first = launcher.check_run_worker_health(run)
    launcher.check_run_worker_health(run)
    assert first.msg is not None and first.msg.startswith("Run worker stopped by a node shutdown (retryable")
    ((message, metadata),) = reported
    assert message.startswith("Run worker stopped by a node shutdown: NodeShutdown (pod")
    assert metadata["reason"] == "NodeShutdown" and metadata["K8s Job"] == "dagster-run-r1"


def test_a_failed_external_k8s_job_fails_the_op_with_the_diagnosis_as_metadata() -> None:
    found = corpus_diagnosis("exit-1-with-message")
    error = K8sJobError(found.failure_text("K8s Job dagster/x"), diagnosis=found)
    assert isinstance(error, Failure)

    @op
    def work() -> None:
        raise error

    @job
    def external() -> None:
        work()

    result = external.execute_in_process(raise_on_error=False)
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    data = failure.step_failure_data
    assert data.error is not None and "NonZeroExit" in data.error.message
    assert data.user_failure_data is not None
    metadata = texts(dict(data.user_failure_data.metadata))
    assert metadata["reason"] == "NonZeroExit" and metadata["category"] == "user code"
    assert metadata["container"] == "dagster" and metadata["exit code"] == "1"


def test_celery_k8s_mode_reports_the_failure_with_metadata() -> None:
    from dagster_ext.celery.worker.k8s_mode import _report_failure

    found = corpus_diagnosis("image-invalid-name")
    reported: list[tuple[str, dict[str, str], str]] = []
    instance = SimpleNamespace(
        report_engine_event=lambda message, run, data, step_key: reported.append(
            (message, texts(data.metadata), step_key)
        )
    )
    step_job = SimpleNamespace(
        instance=instance,
        spec=SimpleNamespace(name="dagster-step-3f2a9c", namespace="dagster"),
        message=SimpleNamespace(step_key="work"),
        where="dagster/dagster-step-3f2a9c",
    )
    _report_failure(cast(Any, step_job), cast(Any, None), found)
    ((message, metadata, step_key),) = reported
    assert step_key == "work" and message.startswith("Step pod has an invalid image name: InvalidImageName")
    assert (metadata["reason"], metadata["category"], metadata["retryable"]) == (
        "InvalidImageName",
        "image",
        "false",
    )


def test_a_waiting_step_pod_says_why_once_and_stays_healthy(monkeypatch: Any) -> None:
    result, events = step_health(monkeypatch, corpus_diagnosis("unschedulable-waiting"))
    assert result.is_healthy
    (event,) = events
    assert event["message"].startswith("Step pod waiting: Unschedulable (pod dagster-step-3f2a9c-7xkqp)")
    assert "0/3 nodes are available" in event["message"]
    assert event["metadata"]["reason"] == "Unschedulable" and event["metadata"]["category"] == "scheduling"


def test_the_run_launcher_says_why_the_run_worker_waits(monkeypatch: Any) -> None:
    found = corpus_diagnosis("image-pull-backoff-young")
    reported: list[str] = []
    instance = SimpleNamespace(
        report_engine_event=lambda message, run, data, cls=None: reported.append(message)
    )
    monkeypatch.setattr(K8sRunLauncher, "_instance", property(lambda self: instance))
    monkeypatch.setattr(K8sRunLauncher, "_current_k8s_job", lambda self, run: ("dagster", "dagster-run-r1"))
    monkeypatch.setattr(health, "observe", lambda *a, **kw: health.Observation(None, [], [], found))
    launcher = K8sRunLauncher()
    run = cast(Any, SimpleNamespace(run_id="r1", status=None))
    assert launcher.check_run_worker_health(run).status.value == "RUNNING"
    launcher.check_run_worker_health(run)
    (message,) = reported
    assert message.startswith("Run worker waiting: ImagePullBackOff") and "Back-off pulling image" in message


def test_a_step_k8s_job_deleted_under_the_step_is_reported_with_the_taxonomy(monkeypatch: Any) -> None:
    class _Gone(_Tracker):
        def k8s_job(self, name: str) -> None:  # type: ignore[override]
            return None

        def was_seen(self, name: str) -> bool:
            return True

    gone = diagnose(k8s_job=None, pods=[], now=datetime.now())
    result, events = step_health(monkeypatch, gone, _Gone(gone))
    assert result.unhealthy_reason.startswith("K8s Job dagster/dagster-step-3f2a9c was deleted (retryable")
    assert "ttlSecondsAfterFinished" in result.unhealthy_reason
    assert events[0]["metadata"]["reason"] == "Deleted"
