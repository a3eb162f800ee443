"""`step_mode: k8s_job` end to end: real Redis, real worker processes, the local cluster.

The Celery worker claims the step, creates its K8s Job (rendered like the K8s step executor's, so
the pod inherits the run pod's node selector and takes the op tag's resources) and holds its slot
until the K8s Job ends; a failed K8s Job's diagnosis is the step's failure reason.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.celery.harness import CeleryHarness, op_of, step_failure_message
from tests.integration.step_jobs import (
    SEED_LIMITS,
    SEED_REQUESTS,
    step_k8s_jobs,
    step_pods,
    wait_all_complete,
)

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

SEED_STEPS = ("generate_numbers", "filter_even_numbers", "filter_odd_numbers",
              "sum_even_numbers", "sum_odd_numbers", "sum_two_sums")  # fmt: skip


@pytest.mark.timeout(240)
def test_process_numbers_as_step_k8s_jobs(
    k8s_mode_harness: Callable[..., CeleryHarness], k8s_cluster: Any, k8s_namespace: str
) -> None:
    h = k8s_mode_harness()
    h.start_worker("w1", slots=2)
    h.wait_workers_ready()
    result = h.start_run("process_numbers").result(timeout_s=200)
    assert result["success"] and result["result"] == 55, h.worker_log("w1")[-3000:]
    run_id = result["run_id"]
    log = h.store.claim_log(run_id)
    assert Counter(e["step_key"] for e in log if e["event"] == "claimed") == {k: 1 for k in SEED_STEPS}
    jobs = wait_all_complete(k8s_cluster, k8s_namespace, run_id, count=6)
    assert all(j.metadata.name.startswith("dagster-step-") for j in jobs)
    pods = step_pods(k8s_cluster, k8s_namespace, run_id)
    assert len(pods) == 6
    for pod in pods:
        assert pod.spec.node_selector == {"node-group.dp.ssup2": "worker"}, pod.metadata.name
        resources = pod.spec.containers[0].resources
        assert resources.limits in SEED_LIMITS and resources.requests in SEED_REQUESTS, pod.metadata.name


@pytest.mark.timeout(180)
def test_unpullable_step_image_fails_the_step_with_its_reason(
    k8s_mode_harness: Callable[..., CeleryHarness], k8s_cluster: Any, k8s_namespace: str
) -> None:
    h = k8s_mode_harness({"failure_grace_seconds": {"image_pull": 0}})
    h.start_worker("w1", slots=1)
    h.wait_workers_ready()
    result = h.start_run("unpullable").result(timeout_s=150)
    assert not result["success"]
    message = step_failure_message(h, result["run_id"])
    assert "ImagePullBackOff" in message or "ErrImagePull" in message, message
    assert "dagster-step-" in message, message
    # The stuck pod would retry pulls forever: the worker deleted its K8s Job.
    deadline = time.monotonic() + 60
    while step_pods(k8s_cluster, k8s_namespace, result["run_id"]):
        assert time.monotonic() < deadline, "the unpullable step pod was left behind"
        time.sleep(0.5)


@pytest.mark.timeout(240)
def test_terminating_the_run_deletes_the_running_step_k8s_job(
    k8s_mode_harness: Callable[..., CeleryHarness], k8s_cluster: Any, k8s_namespace: str
) -> None:
    h = k8s_mode_harness({"env_vars": ["DX_SLOW_S=300"]})
    h.start_worker("w1", slots=1)
    h.wait_workers_ready()
    run = h.start_run("slow_chain")
    deadline = time.monotonic() + 150
    while True:  # `slow` (after start_op) is the second step pod; wait until it runs
        pods = [p for p in step_pods(k8s_cluster, k8s_namespace, "") if p.status.phase == "Running"]
        if any(op_of(p) == "slow" for p in pods):
            break
        assert time.monotonic() < deadline, "the slow step pod never ran"
        time.sleep(0.5)
    os.kill(run.proc.pid, signal.SIGINT)  # what Dagster's run termination delivers to the run worker
    deadline = time.monotonic() + 60
    while [p for p in step_pods(k8s_cluster, k8s_namespace, "") if op_of(p) == "slow"]:
        assert time.monotonic() < deadline, "the slow step's pod was left running after terminate"
        time.sleep(0.5)
    run.proc.wait(timeout=60)
    assert not [j for j in step_k8s_jobs(k8s_cluster, k8s_namespace, "") if op_of(j) == "slow"]
    assert h.workers["w1"].poll() is None, "the worker survived: only the step was stopped"
