"""Give a server on this machine (the test PostgreSQL or Redis) a Service name inside the cluster.

Pods then use `<name>.<namespace>.svc.cluster.local:<port>`, exactly as they would use a managed
database's in-cluster name: a Service without selector and an Endpoints object naming the host
address the server listens on (the node bridge's address on the local cluster, `service_host()`).
The cluster mirrors it into an EndpointSlice and kube-proxy routes the ClusterIP there.
"""

from __future__ import annotations

from typing import Any

from dagster_ext.testing.node.network import service_host

CLUSTER_DOMAIN = "cluster.local"


def expose_host_port(
    core_v1: Any, namespace: str, name: str, *, port: int, service_port: int | None = None
) -> str:
    """Create Service `name` (port `service_port`, default `port`) routed to `service_host():port`;
    returns its fully qualified DNS name."""
    service_port = service_port or port
    core_v1.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": name},
            "spec": {"ports": [{"name": "tcp", "port": service_port, "targetPort": port, "protocol": "TCP"}]},
        },
    )
    core_v1.create_namespaced_endpoints(
        namespace,
        {
            "metadata": {"name": name},
            "subsets": [
                {
                    "addresses": [{"ip": service_host()}],
                    "ports": [{"name": "tcp", "port": port, "protocol": "TCP"}],
                }
            ],
        },
    )
    return f"{name}.{namespace}.svc.{CLUSTER_DOMAIN}"
