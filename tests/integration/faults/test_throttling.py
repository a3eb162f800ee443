"""The API server throttles our ServiceAccount (API Priority and Fairness): real 429 with Retry-After.

`apf_throttle` gives the ServiceAccount one seat at the real kube-apiserver. Each test closes the
level until the API server's own counter shows a rejected request of the client under test, then
opens it again. A closed level still admits a request when none is executing, so a second
ServiceAccount keeps the seat busy: the run test's `SeatHolder` holds it without a gap (the run
pod makes only a few requests, one at a time); the `execute_k8s_job` test's `SeatLoad` holds it
part of the time, so later requests meet 429s too.
The run must still succeed with one K8s Job per step and the client must wait at least as long as
each Retry-After asked. Figures are printed, not asserted.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from dagster import job

from dagster_ext.k8s import k8s_job_op
from dagster_ext.testing.deployment import grant_run_worker_rbac
from dagster_ext.testing.throttling import (
    SeatHolder,
    SeatLoad,
    apf_throttle,
    kubeconfig_as_token,
    service_account_token,
)
from tests.integration.faults.test_apiserver_restart import assert_succeeded_with_one_k8s_job_per_step
from tests.integration.k8s_job.harness import (
    dagster_instance,
    external_k8s_jobs,
    log_messages,
    op_config,
    run_in_background,
)
from tests.integration.step_executor.test_step_executor import location

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

RUN_SA = "default"  # what run pods use in the test deployment
LOAD_SA = "apf-seat-load"
OPS = 3


def _as_service_account(k8s_cluster: Any, namespace: str, name: str, tmp_path: Path) -> Path:
    token = service_account_token(k8s_cluster.core_v1, namespace=namespace, name=name)
    return kubeconfig_as_token(Path(k8s_cluster.kubeconfig_path), token, tmp_path / f"{name}.kubeconfig")


def _load_kubeconfig(k8s_cluster: Any, namespace: str, tmp_path: Path) -> Path:
    k8s_cluster.core_v1.create_namespaced_service_account(namespace, {"metadata": {"name": LOAD_SA}})
    return _as_service_account(k8s_cluster, namespace, LOAD_SA, tmp_path)


def test_run_succeeds_while_the_apiserver_throttles_its_service_account(
    dagster_deployment: Any, k8s_cluster: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    """The run pod's step executor (in-cluster, as ServiceAccount `default`) creates and watches
    the step K8s Jobs through a one-seat priority level whose seat another client keeps busy."""
    deployment = dagster_deployment(location=location())
    load_kubeconfig = _load_kubeconfig(k8s_cluster, k8s_namespace, tmp_path)
    started = time.monotonic()
    baseline_id = deployment.launch("process_numbers_k8s")
    assert_succeeded_with_one_k8s_job_per_step(deployment, k8s_cluster, k8s_namespace, baseline_id)
    unthrottled_s = time.monotonic() - started
    admin = k8s_cluster.api_client()
    with apf_throttle(
        admin, name=k8s_namespace, namespace=k8s_namespace, service_accounts=(RUN_SA, LOAD_SA)
    ) as throttle:
        # The seat held by the load until the run pod's first request has been rejected.
        throttle.set_seats(admin, 0)
        with SeatHolder(load_kubeconfig) as load:
            started = time.monotonic()
            run_id = deployment.launch("process_numbers_k8s")
            closed_s = _wait_for_first_rejection(throttle, admin, RUN_SA)
            load.stop()
        throttle.set_seats(admin, 1)
        assert_succeeded_with_one_k8s_job_per_step(deployment, k8s_cluster, k8s_namespace, run_id)
        throttled_s = time.monotonic() - started
        rejected = throttle.rejected(admin, RUN_SA)
    print(
        f"\nprocess_numbers_k8s launch to success: unthrottled {unthrottled_s:.1f}s, throttled "
        f"{throttled_s:.1f}s (+{throttled_s - unthrottled_s:.1f}s; seat held by another client for "
        f"{closed_s:.1f}s, then one seat); the run pod's requests rejected with 429: {rejected}"
    )
    assert rejected > 0, "the API server rejected none of the run pod's requests: nothing was throttled"


def _wait_for_first_rejection(throttle: Any, admin: Any, service_account: str) -> float:
    """Seconds until the API server has rejected a request of `service_account` (hang guard 180 s)."""
    started = time.monotonic()
    while throttle.rejected(admin, service_account) == 0:
        assert time.monotonic() - started < 180, "no request of the client was ever rejected"
        time.sleep(0.2)
    return time.monotonic() - started


@job
def parallel_external_work() -> None:
    for index in range(OPS):
        k8s_job_op.alias(f"work_{index}")()


def test_execute_k8s_job_backs_off_as_the_apiserver_asks(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`execute_k8s_job` in this process, acting as a throttled ServiceAccount: every 429 is
    retried after at least its Retry-After, the K8s Jobs are each created once, the run succeeds."""
    grant_run_worker_rbac(k8s_cluster.rbac_v1, k8s_namespace)
    kubeconfig = _as_service_account(k8s_cluster, k8s_namespace, RUN_SA, tmp_path)
    load_kubeconfig = _load_kubeconfig(k8s_cluster, k8s_namespace, tmp_path)
    caplog.set_level(logging.DEBUG, logger="dagster_ext.k8s.client")
    config = op_config(kubeconfig, command=["/bin/sh", "-c", "echo done"])
    run_config = {"ops": {f"work_{i}": {"config": config} for i in range(OPS)}}
    admin = k8s_cluster.api_client()
    with apf_throttle(
        admin, name=k8s_namespace, namespace=k8s_namespace, service_accounts=(RUN_SA, LOAD_SA)
    ) as throttle:
        with SeatLoad(load_kubeconfig), dagster_instance(k8s_namespace, kubeconfig, tmp_path) as instance:
            throttle.set_seats(admin, 0)
            started = time.monotonic()
            run = run_in_background(parallel_external_work, instance, run_config)
            _wait_for_first_rejection(throttle, admin, RUN_SA)
            throttle.set_seats(admin, 1)
            result = run.join(300)
            elapsed_s = time.monotonic() - started
            created = [m for m in log_messages(instance) if m.startswith("Created K8s Job ")]
        rejected = throttle.rejected(admin, RUN_SA)
    assert result.success
    # requests retried by the retry loop, and watches reconnecting: both must wait as told
    throttled = [r for r in caplog.records if getattr(r, "k8s_status", None) == 429]
    for record in throttled:
        assert record.retry_after_s is not None, record.getMessage()
        assert record.pause_s >= record.retry_after_s, record.getMessage()
    waited_s = sum(r.pause_s for r in throttled)
    print(
        f"\nthrottled execute_k8s_job x{OPS}: {elapsed_s:.1f}s; 429s seen by the API server: {rejected}, "
        f"retried by our client: {len(throttled)}, waiting {waited_s:.1f}s as asked "
        f"(Retry-After values {sorted({r.retry_after_s for r in throttled})})"
    )
    assert rejected > 0, "the API server rejected none of our requests: nothing was throttled"
    assert throttled, "the API server rejected requests but our retry loop saw no 429"
    # Created once each (no duplicate from a retried create); deleted on success as configured.
    assert len(created) == OPS, created
    # one K8s Job per op, none twice (succeeded K8s Jobs stay until their TTL)
    assert len(external_k8s_jobs(k8s_cluster, k8s_namespace)) == OPS
