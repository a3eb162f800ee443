"""pytest fixtures for tests that need a Kubernetes API: `k8s_cluster` (session) and `k8s_namespace`.

By default the session starts a `LocalCluster` (control plane built from Go modules, one real node:
kubelet, containerd, runc, with the user-code image built from this checkout).
Given `--kubeconfig PATH` or `$DAGSTER_EXT_KUBECONFIG`, the same tests run against that cluster instead
(kind, a dev cluster): tests must not know which one they have. Tests using `k8s_cluster` are marked
`cluster` automatically, so `-m "not cluster"` runs the rest without Kubernetes.

The Kubernetes client is imported lazily: this plugin is loaded by every pytest session in an
environment where dagster-ext is installed, including ones that never touch a cluster.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from dagster_ext.testing.cluster import LocalCluster

# Real services (PostgreSQL, Redis) and Dagster deployments for the integration tests.
pytest_plugins = ["dagster_ext.testing.service_fixtures"]

KUBECONFIG_ENV = "DAGSTER_EXT_KUBECONFIG"
_BUILD_ERROR_KEY = pytest.StashKey[BaseException]()
NAMESPACE_READY_TIMEOUT_S = 30


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dagster-ext")
    group.addoption(
        "--kubeconfig",
        default=None,
        help=f"run cluster tests against this kubeconfig's cluster (or ${KUBECONFIG_ENV}) "
        "instead of starting a local control plane",
    )


def _given_kubeconfig(config: pytest.Config) -> str | None:
    value = config.getoption("--kubeconfig", default=None) or os.environ.get(KUBECONFIG_ENV)
    return str(value) if value else None


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "k8s_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "local_cluster: starts its own LocalCluster, so needs the binaries even with --kubeconfig"
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build the binaries before any test runs, so the minutes of a first build never count against a
    per-test timeout. A failure is kept and reported by every cluster test (loudly, never a skip)."""
    if session.config.option.collectonly or not _needs_binaries(session):
        return
    from dagster_ext.testing.cluster import ensure_binaries
    from dagster_ext.testing.cluster.coredns import ensure_coredns

    try:
        ensure_binaries()
        if uses_local_node(session.config):
            ensure_coredns()
    except Exception as err:  # reported by the k8s_cluster fixture
        session.config.stash[_BUILD_ERROR_KEY] = err


def uses_local_node(config: pytest.Config) -> bool:
    """True when this session's cluster tests run on a `LocalCluster` with its node (no kubeconfig)."""
    return _given_kubeconfig(config) is None


def _needs_binaries(session: pytest.Session) -> bool:
    if any(item.get_closest_marker("local_cluster") for item in session.items):
        return True
    given = _given_kubeconfig(session.config)
    return not given and any(item.get_closest_marker("cluster") for item in session.items)


@dataclass
class K8sCluster:
    """The cluster under test: where it is and ready-made API clients (admin credentials)."""

    kubeconfig_path: Path
    server_url: str
    local: LocalCluster | None = None
    _clients: list[ApiClient] = field(default_factory=list)

    @property
    def is_local(self) -> bool:
        return self.local is not None

    def api_client(self) -> ApiClient:
        """A new ApiClient for the admin user; closed at session end."""
        from kubernetes import config

        client = config.new_client_from_config(config_file=str(self.kubeconfig_path))
        self._clients.append(client)
        return client

    @cached_property
    def _shared(self) -> ApiClient:
        return self.api_client()

    @cached_property
    def core_v1(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self._shared)

    @cached_property
    def batch_v1(self) -> Any:
        from kubernetes import client

        return client.BatchV1Api(self._shared)

    @cached_property
    def rbac_v1(self) -> Any:
        from kubernetes import client

        return client.RbacAuthorizationV1Api(self._shared)

    def pod_log(self, pod_name: str, namespace: str, **params: Any) -> str:
        """The container log as text (GET pods/{name}/log, i.e. `read_namespaced_pod_log`), read raw.

        The client's own decoding is wrong both ways: kubernetes 36 returns the repr of the bytes
        ("b'hi\\n'", kubernetes-client/python#2596) and older versions return the repr of a dict for a
        log that happens to be JSON. Reading the raw body with `_preload_content=False` avoids both.
        """
        response = self.core_v1.read_namespaced_pod_log(pod_name, namespace, _preload_content=False, **params)
        return str(response.data.decode("utf-8", errors="replace"))

    def close(self) -> None:
        while self._clients:
            self._clients.pop().close()


def _server_url(kubeconfig_path: str) -> str:
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(config_file=kubeconfig_path, client_configuration=configuration)
    return str(configuration.host)


@pytest.fixture(scope="session")
def k8s_cluster(request: pytest.FixtureRequest) -> Iterator[K8sCluster]:
    """The Kubernetes cluster for this test session (local control plane unless a kubeconfig is given)."""
    given = _given_kubeconfig(request.config)
    if given:
        cluster = K8sCluster(kubeconfig_path=Path(given), server_url=_server_url(given))
        yield cluster
        cluster.close()
        return
    build_error = request.config.stash.get(_BUILD_ERROR_KEY, None)
    if build_error is not None:
        pytest.fail(f"cannot build the local Kubernetes control plane: {build_error}", pytrace=False)
    from dagster_ext.testing.cluster import ClusterError, LocalCluster

    local = LocalCluster()
    try:
        local.start()
    except ClusterError as err:
        pytest.fail(f"the local Kubernetes cluster did not start: {err}", pytrace=False)
    cluster = K8sCluster(kubeconfig_path=local.kubeconfig_path, server_url=local.server_url, local=local)
    try:
        yield cluster
    finally:
        cluster.close()
        local.stop()


@pytest.fixture
def k8s_namespace(k8s_cluster: K8sCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test (its `default` ServiceAccount exists), deleted afterwards."""
    from kubernetes import client

    name = namespace_name(request.node.name)
    body = client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"dagster-ext.io/test": "true"}))
    k8s_cluster.core_v1.create_namespace(body)
    try:
        _wait_for_default_service_account(k8s_cluster, name)
        yield name
    finally:
        k8s_cluster.core_v1.delete_namespace(name, propagation_policy="Background")


def namespace_name(test_name: str) -> str:
    """A DNS-1123 label unique per call, readable in `kubectl get ns`: t-<test name>-<random>."""
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:40].strip("-")
    return f"t-{slug}-{secrets.token_hex(3)}"


def _wait_for_default_service_account(cluster: K8sCluster, namespace: str) -> None:
    """List, then watch from the list's resourceVersion until `default` appears (or time out)."""
    from kubernetes import watch

    listing = cluster.core_v1.list_namespaced_service_account(namespace)
    if any(sa.metadata.name == "default" for sa in listing.items):
        return
    stream = watch.Watch().stream(
        cluster.core_v1.list_namespaced_service_account,
        namespace,
        resource_version=listing.metadata.resource_version,
        timeout_seconds=NAMESPACE_READY_TIMEOUT_S,
    )
    for event in stream:
        if event["object"].metadata.name == "default":
            return
    pytest.fail(f"namespace {namespace}: no default ServiceAccount after {NAMESPACE_READY_TIMEOUT_S}s")
