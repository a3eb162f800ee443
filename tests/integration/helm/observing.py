"""Watch an installed release from the test: Deployments ready, runs finished, who may do what.

Reads go through the admin client; what the release's ServiceAccount may do is asked of the
apiserver's own authorizer (a SubjectAccessReview, what `kubectl auth can-i --as` sends).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from dagster_ext.testing.services import PostgresServer

READY_TIMEOUT_S = 300
RUN_TIMEOUT_S = 420
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")


def wait_for_deployments(apps_v1: Any, core_v1: Any, namespace: str, *, expected: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    status: dict[str, str] = {}
    while time.monotonic() < deadline:
        items = apps_v1.list_namespaced_deployment(namespace).items
        status = {d.metadata.name: f"{d.status.ready_replicas or 0}/{d.spec.replicas}" for d in items}
        if len(items) == expected and all((d.status.ready_replicas or 0) >= d.spec.replicas for d in items):
            return
        time.sleep(2)
    raise AssertionError(
        f"Deployments not ready after {READY_TIMEOUT_S}s: {status}; pods: {pod_states(core_v1, namespace)}"
    )


def pod_states(core_v1: Any, namespace: str) -> dict[str, list[str]]:
    """Each pod's containers (init ones first) as `name:state`, for a failure message."""
    states: dict[str, list[str]] = {}
    for pod in core_v1.list_namespaced_pod(namespace).items:
        statuses = (pod.status.init_container_statuses or []) + (pod.status.container_statuses or [])
        states[pod.metadata.name] = [f"{c.name}:{_state(c.state)}" for c in statuses]
        for c in pod.status.container_statuses or []:
            if c.restart_count:  # why it keeps crashing: the end of its previous run's log
                states[pod.metadata.name].append(_previous_log(core_v1, namespace, pod.metadata.name, c.name))
    return states


def _previous_log(core_v1: Any, namespace: str, pod: str, container: str) -> str:
    try:
        response = core_v1.read_namespaced_pod_log(
            pod, namespace, container=container, previous=True, tail_lines=15, _preload_content=False
        )
        return str(response.data.decode("utf-8", errors="replace"))
    except Exception as err:  # only decorates a failure message
        return f"(no log: {type(err).__name__})"


def _state(state: Any) -> str:
    if state.waiting:
        return str(state.waiting.reason)
    if state.terminated:
        return f"{state.terminated.reason}({state.terminated.exit_code})"
    return "running"


def exec_in_pod(core_v1: Any, namespace: str, pod: str, command: list[str]) -> str:
    """Run `command` in the pod's first container (`core_v1` must be a client of its own: `stream`
    patches it)."""
    from kubernetes.stream import stream

    return str(
        stream(
            core_v1.connect_get_namespaced_pod_exec,
            pod,
            namespace,
            command=command,
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
        )
    )


def daemon_pod(core_v1: Any, namespace: str) -> str:
    pods = core_v1.list_namespaced_pod(namespace, label_selector="component=dagster-daemon").items
    running = [p.metadata.name for p in pods if p.status.phase == "Running"]
    assert running, [p.metadata.name for p in pods]
    return str(running[0])


def host_instance(postgres: PostgresServer, db_name: str, home: Path) -> Any:
    """An instance on this machine reading the release's storage (runs and their events)."""
    from dagster import DagsterInstance

    storage = {
        "postgres": {
            "postgres_db": {
                "username": postgres.user,
                "password": postgres.password,
                "hostname": "127.0.0.1",
                "db_name": db_name,
                "port": postgres.port,
            }
        }
    }
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump({"storage": storage}))
    return DagsterInstance.from_config(str(home))


def wait_for_run(instance: Any, run_id: str) -> str:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    status = "NOT_FOUND"
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        status = run.status.value if run is not None else "NOT_FOUND"
        if status in FINISHED:
            return status
        time.sleep(2)
    return status


def run_failure_messages(instance: Any, run_id: str) -> list[str]:
    return [
        str(r.message)[:500] for r in instance.all_logs(run_id) if r.level >= 40 or r.dagster_event is None
    ][-10:]


def complete(k8s_job: Any) -> bool:
    return any(c.type == "Complete" and c.status == "True" for c in k8s_job.status.conditions or ())


def can_i(
    authorization_v1: Any,
    *,
    service_account: str,
    sa_namespace: str,
    verb: str,
    resource: str,
    namespace: str,
    group: str = "",
) -> bool:
    """Whether the ServiceAccount may `verb` `resource` in `namespace`, as the apiserver decides."""
    review = authorization_v1.create_subject_access_review(
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": f"system:serviceaccount:{sa_namespace}:{service_account}",
                "groups": ["system:serviceaccounts", f"system:serviceaccounts:{sa_namespace}"],
                "resourceAttributes": {
                    "verb": verb,
                    "resource": resource,
                    "group": group,
                    "namespace": namespace,
                },
            },
        }
    )
    return bool(review.status.allowed)
