"""`LocalCluster`: a real Kubernetes cluster on this machine — control plane and one real node.

    with LocalCluster() as cluster:
        kubernetes.config.load_kube_config(str(cluster.kubeconfig_path))

Start-up: build/find the binaries, write a fresh PKI, tokens and kubeconfigs; with a node, create the
node's bridge, start the loopback image registry and push the images that are stale; then etcd ->
kube-apiserver (wait for /readyz) -> kube-controller-manager and kube-scheduler -> containerd ->
kube-proxy, CoreDNS and the kubelet (wait for the `default` ServiceAccount, a Ready Node and the
cluster DNS ready). Any failure stops what was started, so a crash half-way leaks no process, and
raises `ComponentStartError` with the failing component's log tail. `with_node=False` starts the
control plane alone (API tests only).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

import dagster_ext
from dagster_ext.testing.cluster import control_plane
from dagster_ext.testing.cluster.binaries import BinaryPaths, Progress, ensure_binaries, stderr_progress
from dagster_ext.testing.cluster.control_plane import NodeSettings
from dagster_ext.testing.cluster.coredns import ensure_coredns
from dagster_ext.testing.cluster.errors import ClusterError
from dagster_ext.testing.cluster.kubeconfig import ClusterUsers, write_kubeconfig, write_token_file
from dagster_ext.testing.cluster.layout import ClusterLayout, Ports
from dagster_ext.testing.cluster.pki import ClusterPki, write_cluster_pki
from dagster_ext.testing.cluster.probing import ApiProbe, http_ok, wait_until
from dagster_ext.testing.cluster.processes import Component, ProcessRef, rss_bytes, spawn, stop_component
from dagster_ext.testing.cluster.state import ClusterState, grace_for, load_state, save_state
from dagster_ext.testing.images.catalog import docker_reference, ensure_images
from dagster_ext.testing.node import teardown
from dagster_ext.testing.node.components import scheduler_args
from dagster_ext.testing.node.containerd import containerd_env
from dagster_ext.testing.node.network import NODE_IP, ensure_bridge, forget_neighbours
from dagster_ext.testing.node.node import (
    NodeLock,
    NodePlan,
    NodePorts,
    check_prerequisites,
    pull_images,
)


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
        with_node: bool = True,
        start_timeout_s: float = 120.0,
        die_with_parent: bool = True,
        keep_state: bool = False,
        extra_apiserver_args: tuple[str, ...] = (),
        progress: Progress = stderr_progress,
    ) -> None:
        self._version = version
        self._given_state_dir = state_dir
        self.node = node or NodeSettings()
        self.with_node = with_node
        self._node_lock = NodeLock()
        self._node_plan: NodePlan | None = None
        self.images: dict[str, str] = {}
        """Image name -> tag in the image cache, of what this cluster's registry serves."""
        self._start_timeout_s = start_timeout_s
        self._die_with_parent = die_with_parent
        self._keep_state = keep_state
        self._extra_apiserver_args = extra_apiserver_args
        self._progress = progress
        self._layout: ClusterLayout | None = None
        self._users: ClusterUsers | None = None
        self._binaries: BinaryPaths | None = None
        self._coredns: Path | None = None
        self._components: list[Component] = []
        self._commands: dict[str, tuple[list[str], dict[str, str] | None]] = {}
        """Component name -> (argv, env) it was started with, so a fault test can restart it."""
        self._respawner: ThreadPoolExecutor | None = None
        """The thread restarted components are started from. Components die with the thread that
        started them (`PR_SET_PDEATHSIG` follows the parent thread, not the process), so a restart
        asked for from a short-lived worker thread must not start the component on that thread."""

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

    @property
    def registry(self) -> str:
        """host:port of the loopback image registry every image name resolves to."""
        if self._node_plan is None:
            raise ClusterError("this cluster has no node, so no image registry")
        return self._node_plan.registry_address

    def rss_bytes(self) -> dict[str, int]:
        """Resident memory per component, children included (containerd's shims are not its children)."""
        return {c.name: rss_bytes(c.process.pid) for c in self._components if not c.exited()}

    def start(self) -> LocalCluster:
        if self._layout is not None:
            raise ClusterError("the cluster is already started")
        self._binaries = ensure_binaries(self._version, progress=self._progress)
        self._coredns = ensure_coredns() if self.with_node else None
        try:
            if self.with_node:
                check_prerequisites()
                self._node_lock.acquire()
                ensure_bridge()
            host = NODE_IP if self.with_node else "127.0.0.1"
            self._layout = ClusterLayout(self._prepare_state_dir(), Ports.pick(), apiserver_host=host)
            self._start_all(self._layout, self._binaries)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process we started (newest first), remove the node's containers and mounts, and
        remove an owned temp state dir. Idempotent."""
        while self._components:
            component = self._components.pop()
            if component.name == "containerd" and self._node_plan is not None:
                teardown.remove_all_containers(self._node_plan.containerd.socket)
            stop_component(component, grace_s=grace_for(component.name))
        layout, self._layout = self._layout, None
        if self._node_plan is not None:
            teardown.sweep_stale_processes()
        if layout is not None:
            teardown.unmount_under(layout.state_dir)
            (layout.state_file).unlink(missing_ok=True)
            if self._given_state_dir is None and not self._keep_state:
                shutil.rmtree(layout.state_dir, ignore_errors=True)
        self._node_plan = None
        self._node_lock.release()
        if self._respawner is not None:
            self._respawner.shutdown(wait=True)
            self._respawner = None

    def restart_component(self, name: str, *, down_s: float = 0.0, kill: bool = False) -> None:
        """Stop one running component, leave it down for `down_s`, and start it again with the same
        command line and state (etcd keeps the cluster's objects; a kubelet or containerd restart keeps
        the node's containers). For fault tests: clients see their connections drop and must reconnect.
        `kill=True` sends SIGKILL at once (a crash) instead of SIGTERM and a grace period.
        Waits until the restarted component is healthy again where that can be probed."""
        index = next((i for i, c in enumerate(self._components) if c.name == name), None)
        if index is None or name not in self._commands:
            raise ClusterError(f"this cluster runs no component named {name!r}")
        stop_component(self._components[index], grace_s=0.0 if kill else grace_for(name))
        if down_s > 0:
            time.sleep(down_s)
        args, env = self._commands[name]
        fds = self._node_lock.fds() if name == "containerd" else ()
        if self._respawner is None:
            self._respawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cluster-respawn")
        component = self._respawner.submit(self._start_process, name, args, env, fds).result()
        self._components[index] = component
        assert self._users is not None
        probe = ApiProbe(self.layout.server_url, self.ca_cert_path, self._users.admin.token)
        if name == "kube-apiserver":
            self._wait(lambda: probe.ok("/readyz"), what="apiserver /readyz", blame=component)
        elif name == "kubelet":
            self._wait(lambda: probe.node_ready(self.node.name), what="Node Ready", blame=component)
        elif name == "containerd" and self._node_plan is not None:
            self._wait(self._node_plan.containerd.socket.exists, what="containerd socket", blame=component)
        if self._layout is not None:
            save_state(self._layout.state_dir, self._saved_state(self._layout, self._require_binaries()))

    def restart_apiserver(self, *, down_s: float = 3.0) -> None:
        """Stop kube-apiserver, keep it down `down_s` seconds, start it again (a control-plane upgrade)."""
        self.restart_component("kube-apiserver", down_s=down_s)

    def _require_binaries(self) -> BinaryPaths:
        if self._binaries is None:
            raise ClusterError("the cluster is not started")
        return self._binaries

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
        teardown.unmount_under(state_dir)
        for stale in ("pki", "logs", "etcd", "node"):  # a fresh cluster every time
            shutil.rmtree(state_dir / stale, ignore_errors=True)
        state_dir.mkdir(parents=True, exist_ok=True)
        return state_dir

    def _start_all(self, layout: ClusterLayout, binaries: BinaryPaths) -> None:
        layout.make_dirs()
        node_ip = NODE_IP if self.with_node else None
        pki = write_cluster_pki(layout.pki_dir, node_ip=node_ip, node_name=self.node.name)
        users = self._users = ClusterUsers.new(self.node.name)
        write_token_file(layout.token_file, users.all())
        for path, user in (
            (layout.admin_kubeconfig, users.admin),
            (layout.controller_manager_kubeconfig, users.controller_manager),
            (layout.scheduler_kubeconfig, users.scheduler),
            (layout.kubelet_kubeconfig, users.kubelet),
            (layout.proxy_kubeconfig, users.kube_proxy),
        ):
            write_kubeconfig(path, server=layout.server_url, ca_cert=pki.ca_cert, user=user)
        probe = ApiProbe(layout.server_url, pki.ca_cert, users.admin.token)
        if self.with_node:
            plan = self._node_plan = self._plan_node(layout, pki)
            registry = self._spawn("registry", plan.registry_command())
            self._wait(
                lambda: http_ok(f"http://{plan.registry_address}/v2/"), what="registry", blame=registry
            )
            self.images = ensure_images(plan.registry_address, _repo_root(), progress=self._progress)
        self._start_etcd_and_apiserver(layout, binaries, pki)
        self._start_controllers(layout, binaries, pki, probe)
        if self._node_plan is not None:
            self._start_node(self._node_plan, binaries, probe)
        save_state(layout.state_dir, self._saved_state(layout, binaries))

    def _plan_node(self, layout: ClusterLayout, pki: ClusterPki) -> NodePlan:
        ports = layout.ports
        return NodePlan(
            state_dir=layout.node_dir,
            ports=NodePorts(
                kubelet=ports.kubelet,
                kubelet_healthz=ports.kubelet_healthz,
                proxy_healthz=ports.proxy_healthz,
                proxy_metrics=ports.proxy_metrics,
                registry=ports.registry,
                dns_ready=ports.dns_ready,
            ),
            node_name=self.node.name,
            labels=dict(self.node.labels),
            ca_cert=pki.ca_cert,
            serving_cert=pki.kubelet_serving.cert,
            serving_key=pki.kubelet_serving.key,
            kubelet_kubeconfig=layout.kubelet_kubeconfig,
            proxy_kubeconfig=layout.proxy_kubeconfig,
        )

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

    def _start_controllers(
        self, layout: ClusterLayout, binaries: BinaryPaths, pki: ClusterPki, probe: ApiProbe
    ) -> None:
        kcm = self._spawn(
            "kube-controller-manager", control_plane.controller_manager_args(binaries, layout, pki)
        )
        if self.with_node:
            self._spawn(
                "kube-scheduler", scheduler_args(binaries.kube_scheduler, layout.scheduler_kubeconfig)
            )
        self._wait(
            lambda: probe.ok("/api/v1/namespaces/default/serviceaccounts/default"),
            what="ServiceAccount default/default",
            blame=kcm,
        )

    def _start_node(self, plan: NodePlan, binaries: BinaryPaths, probe: ApiProbe) -> None:
        teardown.sweep_stale_processes()  # what a node killed without a clean stop left running
        teardown.unmount_stale_node_dirs()
        forget_neighbours()
        # containerd inherits the node lock, so a detached node keeps it after `cluster up` returns
        containerd = self._spawn(
            "containerd", plan.containerd_command(), env=containerd_env(), pass_fds=self._node_lock.fds()
        )
        self._wait(plan.containerd.socket.exists, what="containerd socket", blame=containerd)
        teardown.remove_all_containers(plan.containerd.socket)  # their pods are not in this etcd
        pull_images(plan.containerd, [docker_reference(image) for image in self.images])
        self._spawn("kube-proxy", plan.kube_proxy_command(binaries.kube_proxy))
        assert self._coredns is not None and self._layout is not None
        dns = self._spawn("coredns", plan.coredns_command(self._coredns, self._layout.admin_kubeconfig))
        kubelet = self._spawn("kubelet", plan.kubelet_command(binaries.kubelet))
        self._wait(
            lambda: probe.node_ready(self.node.name), what=f"Node {self.node.name} Ready", blame=kubelet
        )
        self._wait(lambda: http_ok(plan.dns_ready_url), what="cluster DNS ready", blame=dns)

    def _spawn(
        self, name: str, args: list[str], env: dict[str, str] | None = None, pass_fds: tuple[int, ...] = ()
    ) -> Component:
        self._commands[name] = (list(args), env)
        component = self._start_process(name, args, env, pass_fds)
        self._components.append(component)
        return component

    def _start_process(
        self, name: str, args: list[str], env: dict[str, str] | None, pass_fds: tuple[int, ...]
    ) -> Component:
        return spawn(
            name,
            args,
            log_path=self.layout.log(name),
            env=env,
            die_with_parent=self._die_with_parent,
            pass_fds=pass_fds,
        )

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


def _repo_root() -> Path:
    """Where the user-code image takes the project's source from (this checkout)."""
    return Path(dagster_ext.__file__).resolve().parent.parent
