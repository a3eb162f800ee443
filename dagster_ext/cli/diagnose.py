"""`dagster-ext diagnose [RUN_ID | K8S_JOB | POD]`: what is wrong with a run's K8s Jobs, now.

The command a platform engineer runs when a run looks stuck: it reads the live objects through
the gateway and prints the same diagnosis the launcher and executors report (reason, where, what
to change, the last log lines), instead of a round of `kubectl describe`. Exit status 1 when
something failed, so it can gate scripts.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

import click

from dagster_ext.k8s.client import ConnectionSettings, K8sGateway
from dagster_ext.k8s.spec import sanitize_label_value
from dagster_ext.k8s.spec.labels import RUN_ID_LABEL
from dagster_ext.k8s.status import RAN_REASONS, Diagnosis
from dagster_ext.k8s.status import diagnose as diagnose_objects
from dagster_ext.k8s.status.pods import JsonDict, containers, node_name, phase, pod_name

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


class ReadingGateway(Protocol):
    def read_k8s_job(self, *, namespace: str, name: str) -> JsonDict | None: ...
    def read_pod(self, *, namespace: str, name: str) -> JsonDict | None: ...
    def list_k8s_jobs(self, *, namespace: str, label_selector: str) -> list[JsonDict]: ...
    def list_pods(self, *, namespace: str, label_selector: str) -> list[JsonDict]: ...
    def list_events(self, *, namespace: str, involved_kind: str, involved_name: str) -> list[JsonDict]: ...
    def read_pod_log_tail(
        self, *, namespace: str, pod: str, container: str = "dagster", tail_lines: int = 25
    ) -> str | None: ...


@dataclass(frozen=True)
class Finding:
    """One K8s Job (or a pod without one) with its pods and diagnosis."""

    kind: str
    name: str
    namespace: str
    pods: list[JsonDict]
    diagnosis: Diagnosis

    def to_json(self) -> dict[str, Any]:
        found = self.diagnosis
        return {
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "state": found.state.value,
            "summary": found.headline(),
            "hint": found.hint if found.failed else "",
            **found.metadata(),
        }


def _name(obj: JsonDict) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _job_of(pod: JsonDict) -> str | None:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return next((str(labels[key]) for key in JOB_NAME_LABELS if key in labels), None)


def _with_log(gateway: ReadingGateway, namespace: str, found: Diagnosis, log_lines: int) -> Diagnosis:
    if not (
        found.failed and found.reason in RAN_REASONS and found.pod_name and found.container and log_lines
    ):
        return found
    tail = gateway.read_pod_log_tail(
        namespace=namespace, pod=found.pod_name, container=found.container, tail_lines=log_lines
    )
    return dataclasses.replace(found, log_tail=tail) if tail else found


def _k8s_job_finding(gateway: ReadingGateway, namespace: str, k8s_job: JsonDict, log_lines: int) -> Finding:
    name = _name(k8s_job)
    pods = gateway.list_pods(namespace=namespace, label_selector=f"job-name={name}")
    events = gateway.list_events(namespace=namespace, involved_kind="Job", involved_name=name)
    found = diagnose_objects(k8s_job=k8s_job, pods=pods, events=events, now=datetime.now(timezone.utc))
    return Finding("K8s Job", name, namespace, pods, _with_log(gateway, namespace, found, log_lines))


def _bare_pod_finding(gateway: ReadingGateway, namespace: str, pod: JsonDict, log_lines: int) -> Finding:
    """A pod no K8s Job owns: judged as if by a Job without retries."""
    placeholder = {"metadata": {"name": _name(pod)}, "spec": {"backoffLimit": 0}, "status": {}}
    found = diagnose_objects(k8s_job=placeholder, pods=[pod], now=datetime.now(timezone.utc))
    return Finding("pod", _name(pod), namespace, [pod], _with_log(gateway, namespace, found, log_lines))


def find(gateway: ReadingGateway, target: str, *, namespace: str, log_lines: int = 25) -> list[Finding]:
    """The diagnoses for TARGET: a run id (its run, step and external K8s Jobs), a K8s Job, or a pod."""
    if not UUID.match(target):
        k8s_job = gateway.read_k8s_job(namespace=namespace, name=target)
        if k8s_job is not None:
            return [_k8s_job_finding(gateway, namespace, k8s_job, log_lines)]
        pod = gateway.read_pod(namespace=namespace, name=target)
        if pod is not None:
            owner = _job_of(pod)
            owning = gateway.read_k8s_job(namespace=namespace, name=owner) if owner else None
            if owning is not None:
                return [_k8s_job_finding(gateway, namespace, owning, log_lines)]
            return [_bare_pod_finding(gateway, namespace, pod, log_lines)]
    selector = f"{RUN_ID_LABEL}={sanitize_label_value(target)}"
    k8s_jobs = gateway.list_k8s_jobs(namespace=namespace, label_selector=selector)
    k8s_jobs.sort(key=lambda j: str((j.get("metadata") or {}).get("creationTimestamp") or ""))
    return [_k8s_job_finding(gateway, namespace, j, log_lines) for j in k8s_jobs]


def _container_line(pod: JsonDict) -> list[str]:
    lines = []
    for found in containers(pod):
        state = next(iter(found.state), "unknown")
        detail = found.state.get(state) or {}
        words = [f"{found.name} ({found.kind}): {state}"]
        if detail.get("reason"):
            words.append(str(detail["reason"]))
        if "exitCode" in detail:
            words.append(f"exit code {detail['exitCode']}")
        if found.restarts:
            words.append(f"restarts {found.restarts}")
        lines.append("      " + " ".join(words))
    return lines


def render_text(finding: Finding) -> str:
    found = finding.diagnosis
    lines = [
        f"{finding.kind} {finding.namespace}/{finding.name}: {found.state.value}",
        f"  {found.headline()}",
    ]
    if found.reason is not None:
        retry = "retryable" if found.retryable else "not retryable"
        lines.append(f"  Category: {found.category.value if found.category else ''} ({retry})")
    if found.failed and found.hint:
        lines.append(f"  What to change: {found.hint}")
    for pod in finding.pods:
        lines.append(f"    pod {pod_name(pod)}: phase {phase(pod) or '?'}, node {node_name(pod) or '-'}")
        lines.extend(_container_line(pod))
    if found.log_tail and found.log_tail.strip():
        lines.append("  Last log lines:")
        lines.extend(f"    {line}" for line in found.log_tail.rstrip().splitlines())
    return "\n".join(lines)


@click.command(name="diagnose")
@click.argument("target")
@click.option("-n", "--namespace", default="default", show_default=True, help="Kubernetes namespace.")
@click.option("--kubeconfig", "kubeconfig_file", default=None, help="Kubeconfig file (default: $KUBECONFIG).")
@click.option("--context", default=None, help="Kubeconfig context.")
@click.option("--in-cluster", is_flag=True, help="Use the pod's ServiceAccount instead of a kubeconfig.")
@click.option("--log-lines", default=25, show_default=True, help="Log lines quoted for a failed container.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per K8s Job (metadata keys).")
def diagnose(
    *,
    target: str,
    namespace: str,
    kubeconfig_file: str | None,
    context: str | None,
    in_cluster: bool,
    log_lines: int,
    as_json: bool,
) -> None:
    """Diagnose a run (RUN_ID), a K8s Job or a pod on the cluster: reason, where, what to change."""
    gateway = K8sGateway(
        ConnectionSettings(load_incluster_config=in_cluster, kubeconfig_file=kubeconfig_file, context=context)
    )
    try:
        findings = find(gateway, target, namespace=namespace, log_lines=log_lines)
    except Exception as err:  # no kubeconfig, no access, API down: say so, without a traceback
        raise click.ClickException(f"could not read namespace {namespace} from the cluster: {err}") from err
    finally:
        gateway.close()
    if not findings:
        click.echo(f"no K8s Job, pod or run {target!r} in namespace {namespace}", err=True)
        sys.exit(2)
    for finding in findings:
        click.echo(json.dumps(finding.to_json()) if as_json else render_text(finding))
    if any(f.diagnosis.failed for f in findings):
        sys.exit(1)
