"""Cluster-side set-up for the bench: namespace, the executor's own ServiceAccount (and a kubeconfig
with its token), the FlowSchemas that count its requests, and the instance ConfigMap dagster-k8s's
step pods mount."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from bench.apiserver_metrics import attribution_flow_schemas

EXECUTOR_SA = "bench-step-executor"
TOKEN_TTL_S = 4 * 3600


def create_namespace(api_client: Any, name: str) -> None:
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    deadline = time.monotonic() + 60
    while not core.list_namespaced_service_account(name, field_selector="metadata.name=default").items:
        if time.monotonic() > deadline:
            raise TimeoutError(f"ServiceAccount {name}/default never appeared")
        time.sleep(0.2)


def _kubeconfig(*, server: str, ca_cert: Path, token: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority": str(ca_cert)}}],
        "users": [{"name": EXECUTOR_SA, "user": {"token": token}}],
        "contexts": [{"name": "bench", "context": {"cluster": "local", "user": EXECUTOR_SA}}],
        "current-context": "bench",
    }


def create_executor_identity(
    api_client: Any, *, namespace: str, server: str, ca_cert: Path, directory: Path
) -> Path:
    """A ServiceAccount (cluster-admin) whose token only the step executor uses; returns its kubeconfig."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=EXECUTOR_SA))
    )
    client.RbacAuthorizationV1Api(api_client).create_cluster_role_binding(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{namespace}-{EXECUTOR_SA}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": EXECUTOR_SA, "namespace": namespace}],
        }
    )
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=TOKEN_TTL_S)
    )
    token = core.create_namespaced_service_account_token(EXECUTOR_SA, namespace, request).status.token
    path = directory / "step-executor.kubeconfig"
    path.write_text(yaml.safe_dump(_kubeconfig(server=server, ca_cert=ca_cert, token=token)))
    return path


def create_flow_schemas(api_client: Any, *, namespace: str) -> None:
    from kubernetes import client

    flowcontrol = client.FlowcontrolApiserverV1Api(api_client)
    for schema in attribution_flow_schemas(service_account=EXECUTOR_SA, namespace=namespace):
        flowcontrol.create_flow_schema(schema)


def create_instance_config_map(api_client: Any, *, namespace: str, dagster_yaml: Path) -> None:
    """dagster-k8s step pods mount `instance_config_map` over `$DAGSTER_HOME/dagster.yaml`."""
    from kubernetes import client

    client.CoreV1Api(api_client).create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="dagster-instance"),
            data={"dagster.yaml": dagster_yaml.read_text()},
        ),
    )


def delete_all_k8s_jobs(api_client: Any, namespace: str) -> None:
    from kubernetes import client

    client.BatchV1Api(api_client).delete_collection_namespaced_job(namespace, propagation_policy="Background")
