"""Cluster DNS and Services: a pod finds another pod by Service name, through kube-proxy's ClusterIP
rules, and a server on this machine (Redis) by the Service name `expose_host_port` gives it.

These hold on the local cluster (CoreDNS on the node bridge) and on kind (its CoreDNS) alike.
"""

from __future__ import annotations

import uuid
from typing import Any

from dagster_ext.testing.host_services import expose_host_port
from dagster_ext.testing.images.catalog import BUSYBOX_IMAGE
from dagster_ext.testing.job_manifests import JOB_NAME_LABEL, job_manifest
from dagster_ext.testing.pytest_plugin import K8sCluster
from dagster_ext.testing.services import RedisServer
from dagster_ext.testing.waiting import wait_for

RESOLVE = (
    "resolve() { nslookup \"$1\" | awk '/^Name:/ { n = 1 } n && /^Address/ { a = $NF } END { print a }'; }; "
)
"""A shell function printing the address a name resolves to. Busybox's own resolver, not libc's: a
static glibc binary cannot load NSS modules (busybox wget crashes even on an address; nc does not)."""


def _run(k8s_cluster: K8sCluster, namespace: str, name: str, script: str) -> tuple[str, str]:
    """Run `script` in a busybox Job's pod; returns (phase, log)."""
    manifest = job_manifest(name, ["sh", "-c", script], image=BUSYBOX_IMAGE)
    k8s_cluster.batch_v1.create_namespaced_job(namespace, manifest)
    pod = wait_for(
        k8s_cluster.core_v1.list_namespaced_pod,
        namespace,
        lambda p: p.status.phase in ("Succeeded", "Failed"),
        timeout_s=120,
        what=f"the pod of Job {name} to end",
        label_selector=f"{JOB_NAME_LABEL}={name}",
    )
    return pod.status.phase, k8s_cluster.pod_log(pod.metadata.name, namespace)


def _web_server(k8s_cluster: K8sCluster, namespace: str, token: str) -> None:
    """A busybox httpd pod serving `token`, behind Service `web` port 80 -> 8080."""
    labels = {"app": "web"}
    script = f"mkdir -p /www && echo {token} > /www/index.html && exec httpd -f -p 8080 -h /www"
    k8s_cluster.core_v1.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "web", "labels": labels},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {
                        "name": "web",
                        "image": BUSYBOX_IMAGE,
                        "command": ["sh", "-c", script],
                        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                    }
                ],
            },
        },
    )
    k8s_cluster.core_v1.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or ())


def test_a_pod_reaches_another_pod_through_a_service_name(
    k8s_cluster: K8sCluster, k8s_namespace: str
) -> None:
    token = uuid.uuid4().hex
    _web_server(k8s_cluster, k8s_namespace, token)
    wait_for(
        k8s_cluster.core_v1.list_namespaced_pod,
        k8s_namespace,
        _ready,
        timeout_s=60,
        what="the web pod to be ready",
        label_selector="app=web",
    )
    cluster_ip = k8s_cluster.core_v1.read_namespaced_service("web", k8s_namespace).spec.cluster_ip
    fqdn = f"web.{k8s_namespace}.svc.cluster.local"
    script = RESOLVE + (
        f'full=$(resolve {fqdn}); short=$(resolve web); echo "resolved $full $short"; '
        "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 \"$full\" 80"
    )
    phase, log = _run(k8s_cluster, k8s_namespace, "client", script)
    assert phase == "Succeeded", log
    # both names (the short one through the pod's search path) resolve to the ClusterIP, and
    # kube-proxy routes the ClusterIP to the pod
    assert f"resolved {cluster_ip} {cluster_ip}" in log, log
    assert token in log, log


def test_a_name_outside_the_cluster_fails_without_asking_another_server(
    k8s_cluster: K8sCluster, k8s_namespace: str
) -> None:
    script = "if nslookup dagster.io; then echo RESOLVED; else echo UNRESOLVED; fi"
    phase, log = _run(k8s_cluster, k8s_namespace, "outside", script)
    assert phase == "Succeeded", log
    if k8s_cluster.is_local:  # kind's CoreDNS forwards to the host's resolver; ours forwards nowhere
        assert "UNRESOLVED" in log, log


def test_a_host_service_is_reached_through_its_service_name(
    k8s_cluster: K8sCluster, k8s_namespace: str, redis: RedisServer
) -> None:
    fqdn = expose_host_port(k8s_cluster.core_v1, k8s_namespace, "redis", port=redis.port, service_port=6379)
    script = RESOLVE + f"printf 'PING\\r\\n' | nc -w 5 $(resolve {fqdn}) 6379"
    phase, log = _run(k8s_cluster, k8s_namespace, "redis-ping", script)
    assert phase == "Succeeded", log
    assert "+PONG" in log, log
