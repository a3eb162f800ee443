"""Run-worker health and debug info, from one point read of the run's K8s Job and its pods.

Run monitoring calls these every `poll_interval_seconds`; answering with a *named* reason is what
lets Dagster fail or resume the run instead of leaving it hanging.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timezone

from dagster_ext.k8s.client import K8sGateway
from dagster_ext.k8s.node_capacity import NodeCapacityCache
from dagster_ext.k8s.status import RAN_REASONS, Diagnosis, DiagnosisSettings, K8sJobState, diagnose
from dagster_ext.k8s.status.pods import JsonDict, container_statuses, pod_name


@dataclass(frozen=True)
class Observation:
    """Everything we read about one K8s Job, kept for debug output."""

    k8s_job: JsonDict | None
    pods: list[JsonDict]
    events: list[JsonDict]
    diagnosis: Diagnosis


def observe(
    gateway: K8sGateway,
    *,
    namespace: str,
    k8s_job_name: str,
    settings: DiagnosisSettings,
    log_tail_lines: int,
    with_events: bool = False,
) -> Observation:
    k8s_job = gateway.read_k8s_job(namespace=namespace, name=k8s_job_name)
    pods = (
        []
        if k8s_job is None
        else gateway.list_pods(namespace=namespace, label_selector=f"job-name={k8s_job_name}")
    )
    events: list[JsonDict] = []
    if k8s_job is not None and (with_events or not pods):
        events = gateway.list_events(namespace=namespace, involved_kind="Job", involved_name=k8s_job_name)
    judge = functools.partial(
        diagnose,
        k8s_job=k8s_job,
        pods=pods,
        events=events,
        now=datetime.now(timezone.utc),
        settings=settings,
        capacity=NodeCapacityCache(gateway).for_pods(pods),
    )
    found = judge()
    if found.failed and found.pod_name and found.reason in RAN_REASONS:
        tail = gateway.read_pod_log_tail(
            namespace=namespace,
            pod=found.pod_name,
            container=found.container or "dagster",
            tail_lines=log_tail_lines,
        )
        found = judge(log_tail=tail)
    return Observation(k8s_job, pods, events, found)


def is_alive(state: K8sJobState) -> bool:
    return state in (K8sJobState.PENDING, K8sJobState.RUNNING)


def debug_text(
    gateway: K8sGateway, *, namespace: str, k8s_job_name: str, observation: Observation, log_tail_lines: int
) -> str:
    """Human-readable state of the K8s Job: diagnosis first, then pods, Events and log tails."""
    lines = [
        f"K8s Job {namespace}/{k8s_job_name}: {observation.diagnosis.summary()}",
    ]
    for pod in observation.pods:
        status = pod.get("status") or {}
        lines.append(
            f"Pod {pod_name(pod)}: phase={status.get('phase')} node={(pod.get('spec') or {}).get('nodeName')}"
        )
        for cs in container_statuses(pod):
            lines.append(f"  container {cs.get('name')}: {cs.get('state')}")
        for event in gateway.list_events(
            namespace=namespace, involved_kind="Pod", involved_name=pod_name(pod)
        )[-10:]:
            lines.append(f"  event {event.get('type')} {event.get('reason')}: {event.get('message')}")
        tail = (
            gateway.read_pod_log_tail(namespace=namespace, pod=pod_name(pod), tail_lines=log_tail_lines)
            if log_tail_lines > 0
            else None
        )
        if tail:
            lines.append(f"  last {log_tail_lines} log lines:")
            lines.extend(f"    {line}" for line in tail.splitlines())
    for event in observation.events[-10:]:
        lines.append(f"K8s Job event {event.get('type')} {event.get('reason')}: {event.get('message')}")
    lines.append(f"More: kubectl -n {namespace} describe job {k8s_job_name}")
    return "\n".join(lines)
