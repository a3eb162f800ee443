"""Wires the kubelet together and runs it until SIGTERM/SIGINT.

Start-up: kill processes a previous run left behind, register the Node, serve logs, then run
the pod loop. Shutdown: stop the loop, stop every container (SIGTERM, then SIGKILL after
`shutdown_grace_s`), flush Events, remove our cgroups. Pod statuses are left as they were.
"""

from __future__ import annotations

import logging
import signal
import threading
from decimal import Decimal
from types import FrameType

from dagster_ext.testing.kubelet import memory, runtime
from dagster_ext.testing.kubelet.binding import Binder
from dagster_ext.testing.kubelet.events import EventRecorder
from dagster_ext.testing.kubelet.gateway import ApiObjectLookup, Gateway
from dagster_ext.testing.kubelet.logserver import LogIndex, LogServer
from dagster_ext.testing.kubelet.loop import Dispatcher, PodLoop
from dagster_ext.testing.kubelet.node import NodeAgent
from dagster_ext.testing.kubelet.nodeinfo import NodeFacts
from dagster_ext.testing.kubelet.settings import (
    KubeletSettings,
    base_env,
    machine_facts,
    machine_memory_bytes,
    service_env,
)
from dagster_ext.testing.kubelet.supervisor import Supervisor
from dagster_ext.testing.kubelet.volumes import VolumeBuilder
from dagster_ext.testing.kubelet.worker import WorkerDeps

log = logging.getLogger(__name__)


class _Sources:
    """`volumes.VolumeSources` over the gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._lookup = ApiObjectLookup(gateway)
        self.config_map = self._lookup.config_map
        self.secret = self._lookup.secret

    def token(self, namespace: str, service_account: str, *, spec: dict[str, object]) -> str:
        return self._gateway.request_token(namespace, service_account, spec=spec)

    def root_ca(self) -> bytes | None:
        return self._gateway.ca_bundle()


class Kubelet:
    def __init__(self, settings: KubeletSettings) -> None:
        self.settings = settings
        self.stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _facts(self, gateway: Gateway) -> NodeFacts:
        s = self.settings
        try:
            version = gateway.server_version()
        except Exception:
            version = "v0.0.0"
        return NodeFacts(
            name=s.node_name,
            port=s.port,
            labels=dict(s.node_labels),
            cpu=s.cpu,
            memory_bytes=s.memory_bytes or machine_memory_bytes(),
            pods=s.pods,
            kubelet_version=version,
            machine=machine_facts(),
        )

    def _deps(
        self, gateway: Gateway, events: EventRecorder, control: memory.MemoryControl, facts: NodeFacts
    ) -> WorkerDeps:
        s = self.settings
        host, port = gateway.server
        namespaces = runtime.mount_namespaces_available()
        if not namespaces:
            log.warning("mount namespaces are unavailable (not root?): containers with volumes cannot start")
        return WorkerDeps(
            api=gateway,
            events=events,
            volumes=VolumeBuilder(_Sources(gateway)),
            lookup=ApiObjectLookup(gateway),
            memory=control,
            logs=LogIndex(s.pods_dir),
            pods_dir=s.pods_dir,
            node_name=s.node_name,
            base_env=base_env(s),
            service_env=service_env(host, port),
            working_dir=s.working_dir,
            use_mount_namespace=namespaces,
            unpullable=s.is_unpullable,
            node_allocatable={"cpu": Decimal(facts.cpu), "memory": Decimal(facts.memory_bytes)},
            shutdown_grace_s=s.shutdown_grace_s,
        )

    def _spawn(self, name: str, target: object) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def run(self) -> int:
        s = self.settings
        s.pods_dir.mkdir(parents=True, exist_ok=True)
        s.pods_dir.chmod(0o700)
        control = memory.detect(memory.instance_name(s.node_name, str(s.state_dir)), prefer=s.memory_mode)
        control.sweep()
        if killed := runtime.sweep_orphans(s.pods_dir):
            log.warning("killed %d container process trees left by a previous kubelet", killed)
        log.info("memory limits: %s", control.mode)
        gateway = Gateway(s.kubeconfig)
        events = EventRecorder(gateway, node_name=s.node_name)
        events.start()
        facts = self._facts(gateway)
        deps = self._deps(gateway, events, control, facts)
        binder = Binder(gateway, events, node_name=s.node_name, node=lambda: agent.node)
        agent = NodeAgent(
            gateway,
            facts,
            heartbeat_s=s.heartbeat_s,
            lease_duration_s=s.lease_duration_s,
            on_heartbeat=binder.retry_unschedulable,
        )
        server = LogServer(port=s.port, cert_file=s.tls_cert, key_file=s.tls_key, index=deps.logs)
        supervisor = Supervisor(deps)
        try:
            server.start()
            if not agent.register(self.stop):
                return 0
            loop = PodLoop(gateway, Dispatcher(node_name=s.node_name, binder=binder, supervisor=supervisor))
            self._spawn("kubelet-node", lambda: agent.run(self.stop))
            self._spawn("kubelet-pods", lambda: loop.run(self.stop))
            log.info("kubelet %s is running", s.node_name)
            self.stop.wait()
        finally:
            self._shutdown(gateway, supervisor, server, events, control)
        return 0

    def _shutdown(
        self,
        gateway: Gateway,
        supervisor: Supervisor,
        server: LogServer,
        events: EventRecorder,
        control: memory.MemoryControl,
    ) -> None:
        log.info("kubelet stopping")
        self.stop.set()
        gateway.stop()  # unblocks the watch; pending API retries give up quickly
        supervisor.shutdown(self.settings.shutdown_grace_s + 5)
        log.debug("containers stopped")
        for thread in self._threads:
            thread.join(5)
        log.debug("threads joined")
        server.stop()
        events.stop(timeout_s=2)
        log.debug("events flushed")
        control.close()
        gateway.close()
        log.info("kubelet stopped")

    def install_signal_handlers(self) -> None:
        def handle(signum: int, _frame: FrameType | None) -> None:
            log.info("received signal %d", signum)
            self.stop.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
