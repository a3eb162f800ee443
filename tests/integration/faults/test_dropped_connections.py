"""Connections between our client and the API server reset, slowed and blackholed on the wire.

A toxiproxy on loopback sits in front of the real kube-apiserver; the client under test reaches the
API only through it (a kubeconfig whose server is the proxy), while the test's own admin client goes
direct. Each fault is a toxic held for a few seconds: a create whose answer is lost is retried and
still creates one K8s Job, a watch on a blackholed connection notices the stall by its inactivity
timeout and resumes without losing the event, and an `execute_k8s_job` run succeeds through
latency, resets and a blackhole. Bounds are hang guards; figures are printed, not asserted.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import job

from dagster_ext.k8s import k8s_job_op
from dagster_ext.k8s.client import ConnectionSettings, K8sGateway, WatchSettings
from dagster_ext.k8s.client.retrying import RetryPolicy
from dagster_ext.testing.toxiproxy import Proxy, Toxiproxy, kubeconfig_via, upstream_of
from tests.integration.k8s_job.harness import (
    dagster_instance,
    external_k8s_jobs,
    log_messages,
    op_config,
    run_in_background,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

LABELS = {"dagster-ext.io/test": "dropped-connections"}


@pytest.fixture
def apiserver_proxy(k8s_cluster: Any, tmp_path: Path) -> Iterator[tuple[Proxy, Path]]:
    """A toxiproxy in front of the API server and an admin kubeconfig that goes through it."""
    with Toxiproxy.start(log_path=tmp_path / "toxiproxy.log") as toxi:
        proxy = toxi.proxy("apiserver", upstream=upstream_of(k8s_cluster.server_url))
        yield (
            proxy,
            kubeconfig_via(Path(k8s_cluster.kubeconfig_path), proxy, tmp_path / "via-proxy.kubeconfig"),
        )


def suspended_k8s_job(name: str) -> dict[str, Any]:
    """A K8s Job that starts no pod (suspended): only its API object matters here."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": dict(LABELS)},
        "spec": {
            "suspend": True,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
                }
            },
        },
    }


def _wait_for(predicate: Any, *, timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout_s, f"timed out waiting for {what}"
        time.sleep(0.1)
    return time.monotonic() - started


def _exists(k8s_cluster: Any, namespace: str, name: str) -> bool:
    return any(j.metadata.name == name for j in k8s_cluster.batch_v1.list_namespaced_job(namespace).items)


def test_a_create_whose_answer_is_lost_creates_one_k8s_job(
    apiserver_proxy: tuple[Proxy, Path],
    k8s_cluster: Any,
    k8s_namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The request reaches the API server, the answer never comes back (blackholed downstream):
    the request times out, is retried, meets "already exists" and counts that as its own create."""
    proxy, kubeconfig = apiserver_proxy
    policy = RetryPolicy(request_timeout_s=(5.0, 2.0))  # a short read timeout keeps the test short
    gateway = K8sGateway(ConnectionSettings(kubeconfig_file=str(kubeconfig)), policy=policy)
    caplog.set_level(logging.DEBUG, logger="dagster_ext.k8s.client")
    outcome: dict[str, Any] = {}

    def create() -> None:
        try:
            outcome["job"] = gateway.create_k8s_job(
                namespace=k8s_namespace, manifest=suspended_k8s_job("lost")
            )
        except Exception as err:  # reported by the assertion below
            outcome["error"] = err

    try:
        gateway.list_k8s_jobs(namespace=k8s_namespace, label_selector="none=none")  # connect first
        with proxy.toxic("timeout", stream="downstream", timeout=0):
            thread = threading.Thread(target=create, daemon=True)
            thread.start()
            _wait_for(lambda: _exists(k8s_cluster, k8s_namespace, "lost"), timeout_s=30, what="the create")
            time.sleep(3.0)  # the first answer is lost, and so is the answer of at least one retry
        thread.join(60)
    finally:
        gateway.close()
    assert not thread.is_alive(), "the create hangs on a lost answer"
    assert "error" not in outcome, outcome.get("error")
    (existing,) = k8s_cluster.batch_v1.list_namespaced_job(
        k8s_namespace, label_selector="dagster-ext.io/test"
    ).items
    assert outcome["job"]["metadata"]["uid"] == existing.metadata.uid
    retried = [r for r in caplog.records if hasattr(r, "pause_s") and "create K8s Job" in r.getMessage()]
    assert retried and all(r.k8s_status in (0, 409) for r in retried), [r.getMessage() for r in retried]
    print(f"\nlost create answer: retried {len(retried)} times, created once")


def test_a_watch_on_a_blackholed_connection_notices_the_stall_and_resumes(
    apiserver_proxy: tuple[Proxy, Path], k8s_cluster: Any, k8s_namespace: str
) -> None:
    """Events stop arriving (the connection is silently dead): the watch's inactivity timeout ends
    the read, it reconnects once the path is back, and the event sent during the stall arrives."""
    proxy, kubeconfig = apiserver_proxy
    gateway = K8sGateway(ConnectionSettings(kubeconfig_file=str(kubeconfig)))
    settings = WatchSettings(
        server_timeout_s=60, inactivity_timeout_s=3.0, policy=RetryPolicy(request_timeout_s=(3.0, 3.0))
    )
    watch = gateway.watch(resource="jobs", namespace=k8s_namespace, settings=settings)
    events: queue.Queue[Any] = queue.Queue()

    def consume() -> None:
        for event in watch:
            events.put(event)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    try:
        assert events.get(timeout=30).type == "SYNC"
        with proxy.toxic("timeout", stream="downstream", timeout=0):
            k8s_cluster.batch_v1.create_namespaced_job(k8s_namespace, suspended_k8s_job("during-stall"))
            time.sleep(8.0)  # well past the inactivity timeout
            assert events.empty(), "an event crossed a blackholed connection"
        healed = time.monotonic()
        seen = _next_with(events, "during-stall", timeout_s=60)
        print(
            f"\nblackholed watch: event seen {time.monotonic() - healed:.1f}s after the path healed; "
            f"{watch.reconnects} reconnects"
        )
        assert seen
        assert watch.reconnects >= 1
    finally:
        watch.stop()
        thread.join(30)
        gateway.close()
    k8s_cluster.batch_v1.delete_namespaced_job("during-stall", k8s_namespace, propagation_policy="Background")


def _next_with(events: queue.Queue[Any], name: str, *, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            event = events.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        objects = event.objects if event.type == "SYNC" else (event.object,)
        if any((o or {}).get("metadata", {}).get("name") == name for o in objects):
            return True
    return False


@job
def talkative_external_work() -> None:
    k8s_job_op.alias("work")()


LINES = 40


def test_execute_k8s_job_succeeds_through_latency_resets_and_a_blackhole(
    apiserver_proxy: tuple[Proxy, Path], k8s_cluster: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    """`execute_k8s_job` in this process, reaching the API only through the proxy, while its pod
    prints a line every 0.5 s: 300 ms latency, then every connection reset, then a blackhole that
    closes connections after 3 s. The run succeeds, the K8s Job is created once, and every line
    arrives exactly once, in order (a silent log stream ends by its read timeout and resumes)."""
    proxy, kubeconfig = apiserver_proxy
    script = f"for i in $(seq 1 {LINES}); do echo line-$i; sleep 0.5; done"
    config = op_config(kubeconfig, command=["/bin/sh", "-c", script])
    with dagster_instance(k8s_namespace, kubeconfig, tmp_path) as instance:
        started = time.monotonic()
        run = run_in_background(talkative_external_work, instance, {"ops": {"work": {"config": config}}})
        _wait_for(lambda: "line-3" in log_messages(instance), timeout_s=120, what="the pod's first lines")
        faults_at = time.monotonic()
        with proxy.toxic("latency", latency=300, jitter=100):
            time.sleep(3.0)
        with proxy.toxic("reset_peer", timeout=0):
            time.sleep(2.0)
        with proxy.toxic("timeout", timeout=3000):
            time.sleep(5.0)
        healed_at = time.monotonic()
        result = run.join(240)
        elapsed_s = time.monotonic() - started
        messages = log_messages(instance)
    assert result.success
    created = [m for m in messages if m.startswith("Created K8s Job ")]
    assert len(created) == 1, created
    streamed = [m for m in messages if m.startswith("line-")]
    missing = [i for i in range(1, LINES + 1) if f"line-{i}" not in streamed]
    print(
        f"\nexecute_k8s_job through faults: {elapsed_s:.1f}s in all, faults {healed_at - faults_at:.1f}s; "
        f"{len(streamed)} lines streamed for {LINES} printed ({len(streamed) - len(set(streamed))} repeated)"
    )
    assert len(external_k8s_jobs(k8s_cluster, k8s_namespace)) == 1  # succeeded ones stay until their TTL
    assert streamed == [f"line-{i}" for i in range(1, LINES + 1)], (missing, len(streamed))
