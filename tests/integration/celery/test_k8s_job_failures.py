"""`step_mode: k8s_job` under failure: a lost Celery worker, a step Job that ends unwatched, OOM.

The step K8s Job outlives the Celery worker that created it. These tests kill that worker
(SIGKILL of the process group the test started) and check that the next worker to claim the step
adopts the same K8s Job instead of running the step again, and that a step pod killed for memory
is reported as OOMKilled while its slot goes on to the next step.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from dagster import DagsterEventType

from dagster_ext.testing.waiting import job_condition, wait_for, wait_until_gone
from tests.integration.celery.harness import (
    CeleryHarness,
    op_of,
    run_events,
    step_failure_message,
)
from tests.integration.step_jobs import step_k8s_jobs, step_pods

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]
LEASE_S = 3  # a lost worker's step is re-dispatched after ~3 s instead of the default 15


@pytest.fixture
def k8s_job_harness(k8s_mode_harness: Callable[..., CeleryHarness]) -> Callable[..., CeleryHarness]:
    """`k8s_job_harness(slow_s, w1=1)`: a k8s_job-mode harness whose step pods sleep `slow_s` in
    `slow`, with ready workers named by keyword (value: slots)."""

    def make(slow_s: float, **slots: int) -> CeleryHarness:
        h = k8s_mode_harness({"claim_lease_seconds": LEASE_S})
        # Step pods are processes of the kubelet: they record into the same trace file as the tests.
        h.executor_config["env_vars"] = [f"DX_SLOW_S={slow_s}", f"DX_TRACE_DIR={h.trace_file.parent}"]
        for name, count in slots.items():
            h.start_worker(name, slots=count)
        h.wait_workers_ready()
        return h

    return make


def _wait(predicate: Callable[[], Any], *, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := predicate()):
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout_s:.0f}s"
        time.sleep(0.2)
    return found


def _claims(h: CeleryHarness, run_id: str, step_key: str) -> list[dict[str, Any]]:
    return [e for e in h.store.claim_log(run_id) if e.get("step_key") == step_key]


def _running_step(h: CeleryHarness, step_key: str, *, timeout_s: float) -> tuple[str, str]:
    """(run id, worker name) once `step_key`'s pod has started its body."""
    (started,) = h.wait_trace(lambda e: e["step"] == step_key and e["event"] == "start", timeout_s=timeout_s)
    run_id = started["run_id"]
    claimed = _wait(lambda: [e for e in _claims(h, run_id, step_key) if e["event"] == "claimed"],
                    timeout_s=10, what=f"the claim of {step_key}")  # fmt: skip
    return run_id, str(claimed[0]["worker"]).split("@")[0]


def _engine_messages(h: CeleryHarness, run_id: str, needle: str) -> list[tuple[float, str]]:
    return [(r.timestamp, r.dagster_event.message or "") for r in run_events(h, run_id)
            if r.dagster_event is not None and needle in (r.dagster_event.message or "")]  # fmt: skip


@pytest.mark.timeout(300)
def test_sigkill_of_the_worker_watching_a_step_k8s_job_adopts_the_job(
    k8s_job_harness: Callable[..., CeleryHarness], k8s_cluster: Any, k8s_namespace: str
) -> None:
    """The next worker adopts the running K8s Job: one Job, one pod, the body ran once, run succeeds."""
    h = k8s_job_harness(20, w1=1, w2=1)
    run = h.start_run("slow_chain")
    run_id, holder = _running_step(h, "slow", timeout_s=150)
    h.kill_worker(holder)
    killed_at = time.time()
    result = run.result(timeout_s=200)
    assert result["success"], result
    trace = Counter(e["event"] for e in h.trace() if e["step"] == "slow")
    assert trace == {"start": 1, "end": 1}, trace  # the body ran once, to its end
    log = _claims(h, run_id, "slow")
    claims = [e for e in log if e["event"] == "claimed"]
    assert len(claims) == 2 and claims[0]["worker"] != claims[1]["worker"], log
    assert [e["outcome"] for e in log if e["event"] == "finished"] == ["ok"], log
    assert any(e["event"] == "lost" for e in log), log
    assert [op_of(j) for j in step_k8s_jobs(k8s_cluster, k8s_namespace, run_id)].count("slow") == 1
    assert [op_of(p) for p in step_pods(k8s_cluster, k8s_namespace, run_id)].count("slow") == 1
    ((adopted_at, message),) = _engine_messages(h, run_id, "adopted K8s Job")
    (end,) = [e for e in h.trace() if e["step"] == "slow" and e["event"] == "end"]
    assert adopted_at < end["t"], "the Job was adopted while it ran (the step sleeps 20 s)"
    print(f"worker kill -> step K8s Job adopted: {adopted_at - killed_at:.1f}s ({message})")


@pytest.mark.timeout(300)
def test_a_lost_claim_hands_the_running_step_k8s_job_over_instead_of_deleting_it(
    k8s_job_harness: Callable[..., CeleryHarness], k8s_cluster: Any, k8s_namespace: str
) -> None:
    """The worker lives but its lease vanishes (as after a claim store outage): it stops watching,
    leaves the Job and the claim, and the re-dispatched step adopts the same Job."""
    h = k8s_job_harness(15, w1=2)
    run = h.start_run("slow_chain")
    run_id, _ = _running_step(h, "slow", timeout_s=150)
    redis_client = h.store.redis_client()  # type: ignore[attr-defined]
    assert redis_client.delete(f"dagster-ext:lease:{run_id}|slow|0") == 1
    result = run.result(timeout_s=200)
    assert result["success"], result
    assert Counter(e["event"] for e in h.trace() if e["step"] == "slow") == {"start": 1, "end": 1}
    log = _claims(h, run_id, "slow")
    events = [e["event"] for e in log]
    assert events.count("claimed") == 2 and events.count("handed_over") == 1, log
    assert [e["outcome"] for e in log if e["event"] == "finished"] == ["ok"], log
    assert [op_of(j) for j in step_k8s_jobs(k8s_cluster, k8s_namespace, run_id)].count("slow") == 1
    assert [op_of(p) for p in step_pods(k8s_cluster, k8s_namespace, run_id)].count("slow") == 1
    assert len(_engine_messages(h, run_id, "adopted K8s Job")) == 1
    assert h.workers["w1"].poll() is None


@pytest.mark.timeout(300)
def test_terminating_a_run_whose_celery_worker_was_lost_deletes_the_step_k8s_job(
    k8s_job_harness: Callable[..., CeleryHarness], k8s_cluster: Any, k8s_namespace: str
) -> None:
    """No Celery worker watches the Job any more: the run worker deletes it when terminated."""
    h = k8s_job_harness(300, w1=1)
    run = h.start_run("slow_chain")
    run_id, holder = _running_step(h, "slow", timeout_s=150)
    (name,) = [
        j.metadata.name for j in step_k8s_jobs(k8s_cluster, k8s_namespace, run_id) if op_of(j) == "slow"
    ]
    h.kill_worker(holder)
    os.kill(run.proc.pid, signal.SIGINT)  # what Dagster's run termination delivers to the run worker
    wait_until_gone(lambda: k8s_cluster.batch_v1.read_namespaced_job(name, k8s_namespace),
                    timeout_s=60, what=f"the slow step's K8s Job {name}")  # fmt: skip
    _wait(lambda: not [p for p in step_pods(k8s_cluster, k8s_namespace, run_id) if op_of(p) == "slow"],
          timeout_s=60, what="the slow step's pod going away")  # fmt: skip
    run.proc.wait(timeout=60)
    assert not [e for e in h.trace() if e["step"] == "slow" and e["event"] == "end"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("job_deleted", [False, True], ids=["job_kept", "job_deleted"])
def test_a_step_k8s_job_that_failed_while_no_worker_watched_reports_its_reason(
    k8s_job_harness: Callable[..., CeleryHarness],
    k8s_cluster: Any,
    k8s_namespace: str,
    *,
    job_deleted: bool,
) -> None:
    """The pod dies (SIGKILL, no STEP_FAILURE) with no Celery worker alive. The next worker adopts
    the failed K8s Job and its diagnosis becomes the step failure; if the Job was deleted meanwhile,
    the step fails saying so. Either way the step body is not run a second time."""
    h = k8s_job_harness(5, w1=1)
    run = h.start_run("crash_chain")
    run_id, holder = _running_step(h, "slow_then_crash", timeout_s=150)
    h.kill_worker(holder)
    failed = wait_for(k8s_cluster.batch_v1.list_namespaced_job, k8s_namespace,
                      lambda j: op_of(j) == "slow_then_crash" and job_condition(j) == "Failed",
                      timeout_s=90, what="the unwatched step K8s Job failing")  # fmt: skip
    _wait(lambda: any(e["event"] == "lost" for e in _claims(h, run_id, "slow_then_crash")),
          timeout_s=60, what="the lost step's re-dispatch")  # fmt: skip
    if job_deleted:  # as an operator or the Job's TTL would
        name = failed.metadata.name
        k8s_cluster.batch_v1.delete_namespaced_job(name, k8s_namespace, propagation_policy="Foreground")
        wait_until_gone(lambda: k8s_cluster.batch_v1.read_namespaced_job(name, k8s_namespace),
                        timeout_s=60, what=f"K8s Job {name}")  # fmt: skip
    h.start_worker("w2", slots=1)
    result = run.result(timeout_s=150)
    assert not result["success"], result
    message = step_failure_message(h, run_id, "slow_then_crash")
    assert "K8s Job" in message and failed.metadata.name in message, message
    assert "Celery worker w2@test" in message, message
    assert ("is gone" if job_deleted else "code 137") in message, message
    body = Counter(e["event"] for e in h.trace() if e["step"] == "slow_then_crash")
    assert body == {"start": 1, "crash": 1}, body
    assert not [e for e in h.trace() if e["step"] == "after"]
    log = _claims(h, run_id, "slow_then_crash")
    assert [e["outcome"] for e in log if e["event"] == "finished"] == ["error"], log
    assert [e["event"] for e in log].count("k8s_job_created") == 1, log
    jobs = [op_of(j) for j in step_k8s_jobs(k8s_cluster, k8s_namespace, run_id)].count("slow_then_crash")
    assert jobs == (0 if job_deleted else 1)
    if not job_deleted:
        assert "adopted K8s Job" in h.worker_log("w2")


@pytest.mark.timeout(300)
def test_an_oom_killed_step_pod_fails_the_step_and_frees_the_slot(
    k8s_job_harness: Callable[..., CeleryHarness], k8s_cluster: Any, k8s_namespace: str
) -> None:
    """One slot: `hog_memory` (512Mi limit, touches 2.5 GiB) fails OOMKilled, then `next_to_oom` runs."""
    h = k8s_job_harness(0.2, w1=1)
    result = h.start_run("oom_then_next").result(timeout_s=240)
    assert not result["success"], result
    run_id = result["run_id"]
    message = step_failure_message(h, run_id, "hog_memory")
    assert "OOMKilled" in message and "K8s Job dagster-step-" in message, message
    assert not [e for e in h.trace() if e["step"] == "hog_memory" and e["event"] == "end"]
    log = h.store.claim_log(run_id)
    hog_done = [e["at"] for e in log if e.get("step_key") == "hog_memory" and e["event"] == "finished"]
    next_claimed = [e["at"] for e in log if e.get("step_key") == "next_to_oom" and e["event"] == "claimed"]
    assert len(hog_done) == 1 and len(next_claimed) == 1 and hog_done[0] <= next_claimed[0], log
    assert [e for e in h.trace() if e["step"] == "next_to_oom" and e["event"] == "end"]
    records = [(r.timestamp, r.dagster_event) for r in run_events(h, run_id) if r.dagster_event is not None]
    failures = [e for _, e in records if e.event_type == DagsterEventType.RUN_FAILURE]
    assert len(failures) == 1 and "hog_memory" in (failures[0].message or ""), failures
    (job,) = [j for j in step_k8s_jobs(k8s_cluster, k8s_namespace, run_id) if op_of(j) == "hog_memory"]
    assert job.status.failed == 1, "an OOMKilled pod keeps its K8s Job for inspection"
    (pod,) = [p for p in step_pods(k8s_cluster, k8s_namespace, run_id) if op_of(p) == "hog_memory"]
    terminated = pod.status.container_statuses[0].state.terminated
    assert terminated.reason == "OOMKilled", terminated
    failed_at = min(t for t, e in records if e.event_type == DagsterEventType.STEP_FAILURE)
    oom_at = terminated.finished_at.timestamp()  # second precision
    print(f"OOMKilled -> claim finished {hog_done[0] - oom_at:.1f}s, STEP_FAILURE {failed_at - oom_at:.1f}s")
