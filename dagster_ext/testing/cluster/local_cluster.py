"""`LocalCluster`: a real Kubernetes control plane plus our process kubelet, on loopback.

    with LocalCluster() as cluster:
        kubernetes.config.load_kube_config(str(cluster.kubeconfig_path))

Start-up: build/find the binaries, write a fresh PKI, tokens and kubeconfigs, then start etcd ->
kube-apiserver (wait for /readyz) -> kube-controller-manager and the kubelet together (wait for the
`default` ServiceAccount and a Ready Node). Any failure stops what was started, so a crash half-way
leaks no process, and raises `ComponentStartError` with the failing component's log tail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import dagster_ext
from dagster_ext.testing.cluster import control_plane
from dagster_ext.testing.cluster.binaries import BinaryPaths, Progress, ensure_binaries, stderr_progress
from dagster_ext.testing.cluster.control_plane import NodeSettings
from dagster_ext.testing.cluster.errors import ClusterError
from dagster_ext.testing.cluster.kubeconfig import ClusterUsers, write_kubeconfig, write_token_file
from dagster_ext.testing.cluster.layout import ClusterLayout, Ports
from dagster_ext.testing.cluster.pki import ClusterPki, write_cluster_pki
from dagster_ext.testing.cluster.probing import ApiProbe, http_ok, wait_until
from dagster_ext.testing.cluster.processes import Component, ProcessRef, rss_bytes, spawn, stop_component
from dagster_ext.testing.cluster.state import ClusterState, grace_for, load_state, save_state


class LocalCluster:
    """Context manager owning one local cluster; nothing happens until `start()` / `__enter__`.

    `state_dir=None` uses a temp dir removed on stop (unless `keep_state`); a given `state_dir` is kept.
    `die_with_parent=False` lets the processes outlive this program (`cluster up --detach`).
    """

    def __init__(
        self,
        *,
        version: str | None = None,
        state_dir: Path | None = None,
        node: NodeSettings | None = None,
        start_timeout_s: float = 120.0,
        die_with_parent: bool = True,
        keep_state: bool = False,
        extra_apiserver_args: tuple[str, ...] = (),
        progress: Progress = stderr_progress,
    ) -> None:
        self._version = version
        self._given_state_dir = state_dir
        self.node = node or NodeSettings()
        self._start_timeout_s = start_timeout_s
        self._die_with_parent = die_with_parent
        self._keep_state = keep_state
        self._extra_apiserver_args = extra_apiserver_args
        self._progress = progress
        self._layout: ClusterLayout | None = None
        self._users: ClusterUsers | None = None
        self._binaries: BinaryPaths | None = None
        self._components: list[Component] = []

    # -- public surface -------------------------------------------------------------------------

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def layout(self) -> ClusterLayout:
        if self._layout is None:
            raise ClusterError("the cluster is not started")
        return self._layout

    @property
    def state_dir(self) -> Path:
        return self.layout.state_dir

    @property
    def kubeconfig_path(self) -> Path:
        return self.layout.admin_kubeconfig

    @property
    def server_url(self) -> str:
        return self.layout.server_url

    @property
    def ca_cert_path(self) -> Path:
        return self.layout.pki_dir / "ca.crt"

    @property
    def processes(self) -> list[ProcessRef]:
        return [c.ref for c in self._components]

    def rss_bytes(self) -> dict[str, int]:
        """Resident memory per component, children included (the kubelet's pods count too)."""
        return {c.name: rss_bytes(c.process.pid) for c in self._components if not c.exited()}

    def start(self) -> LocalCluster:
        if self._layout is not None:
            raise ClusterError("the cluster is already started")
        self._binaries = ensure_binaries(self._version, progress=self._progress)
        try:
            self._layout = ClusterLayout(self._prepare_state_dir(), Ports.pick())
            self._start_all(self._layout, self._binaries)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process we started (newest first) and remove an owned temp state dir. Idempotent."""
        while self._components:
            component = self._components.pop()
            stop_component(component, grace_s=grace_for(component.name))
        layout, self._layout = self._layout, None
        if layout is not None:
            (layout.state_file).unlink(missing_ok=True)
            if self._given_state_dir is None and not self._keep_state:
                shutil.rmtree(layout.state_dir, ignore_errors=True)

    # -- start-up steps ---------------------------------------------------------------------------

    def _prepare_state_dir(self) -> Path:
        if self._given_state_dir is None:
            return Path(tempfile.mkdtemp(prefix="dagster-ext-cluster-"))
        state_dir = self._given_state_dir.resolve()
        previous = load_state(state_dir) if state_dir.exists() else None
        if previous is not None and any(previous.alive().values()):
            raise ClusterError(
                f"a cluster is already running from {state_dir}: run `dagster-ext cluster down`"
            )
        for stale in ("pki", "logs", "etcd", "kubelet"):  # a fresh cluster every time
            shutil.rmtree(state_dir / stale, ignore_errors=True)
        state_dir.mkdir(parents=True, exist_ok=True)
        return state_dir

    def _start_all(self, layout: ClusterLayout, binaries: BinaryPaths) -> None:
        layout.make_dirs()
        pki = write_cluster_pki(layout.pki_dir)
        users = self._users = ClusterUsers.new()
        write_token_file(layout.token_file, users.all())
        for path, user in (
            (layout.admin_kubeconfig, users.admin),
            (layout.controller_manager_kubeconfig, users.controller_manager),
            (layout.kubelet_kubeconfig, users.kubelet),
        ):
            write_kubeconfig(path, server=layout.server_url, ca_cert=pki.ca_cert, user=user)
        probe = ApiProbe(layout.server_url, pki.ca_cert, users.admin.token)
        self._start_etcd_and_apiserver(layout, binaries, pki)
        self._start_controllers_and_kubelet(layout, binaries, pki, probe)
        save_state(layout.state_dir, self._saved_state(layout, binaries))

    def _start_etcd_and_apiserver(
        self, layout: ClusterLayout, binaries: BinaryPaths, pki: ClusterPki
    ) -> None:
        etcd = self._spawn("etcd", control_plane.etcd_args(binaries, layout))
        health = f"http://127.0.0.1:{layout.ports.etcd_client}/health"
        self._wait(lambda: http_ok(health), what="etcd /health", blame=etcd)
        args = control_plane.apiserver_args(binaries, layout, pki, self._extra_apiserver_args)
        apiserver = self._spawn("kube-apiserver", args)
        assert self._users is not None
        probe = ApiProbe(layout.server_url, pki.ca_cert, self._users.admin.token)
        self._wait(lambda: probe.ok("/readyz"), what="apiserver /readyz", blame=apiserver)

    def _start_controllers_and_kubelet(
        self, layout: ClusterLayout, binaries: BinaryPaths, pki: ClusterPki, probe: ApiProbe
    ) -> None:
        kcm = self._spawn(
            "kube-controller-manager", control_plane.controller_manager_args(binaries, layout, pki)
        )
        kubelet = self._spawn(
            "kubelet", control_plane.kubelet_args(layout, pki, self.node), env=_kubelet_env()
        )
        self._wait(
            lambda: probe.ok("/api/v1/namespaces/default/serviceaccounts/default"),
            what="ServiceAccount default/default",
            blame=kcm,
        )
        self._wait(
            lambda: probe.node_ready(self.node.name), what=f"Node {self.node.name} Ready", blame=kubelet
        )

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Component:
        component = spawn(
            name, args, log_path=self.layout.log(name), env=env, die_with_parent=self._die_with_parent
        )
        self._components.append(component)
        return component

    def _wait(self, check: Callable[[], bool], *, what: str, blame: Component) -> None:
        wait_until(check, what=what, blame=blame, watch=self._components, timeout_s=self._start_timeout_s)

    def _saved_state(self, layout: ClusterLayout, binaries: BinaryPaths) -> ClusterState:
        return ClusterState(
            version=binaries.version,
            server_url=layout.server_url,
            kubeconfig=str(layout.admin_kubeconfig),
            node_name=self.node.name,
            processes=tuple(self.processes),
        )


def _kubelet_env() -> dict[str, str]:
    """The host environment (pods run with the host's Python), able to import this very package."""
    package_root = str(Path(dagster_ext.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH", "")
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["PYTHONPATH"] = package_root + (os.pathsep + path if path else "")
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    return env
