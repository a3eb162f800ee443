"""One container of a pod, from "pull" to exit, with restarts per the pod's restartPolicy.

Images are never pulled: an image matching the unpullable pattern cycles through
ErrImagePull and ImagePullBackOff (with the kubelet's Events) until the pod is deleted; any other
image is "already present on machine" and the command runs on the host.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dagster_ext.errors import DagsterExtError
from dagster_ext.testing.kubelet import podspec, timefmt
from dagster_ext.testing.kubelet.environment import PodContext, container_env
from dagster_ext.testing.kubelet.errors import ContainerConfigError, ContainerStartError
from dagster_ext.testing.kubelet.events import ObjectRef
from dagster_ext.testing.kubelet.logfiles import LogWriter
from dagster_ext.testing.kubelet.runtime import ContainerProcess, Exit, Launch, container_id
from dagster_ext.testing.kubelet.status import ContainerRecord

if TYPE_CHECKING:
    from dagster_ext.testing.kubelet.worker import WorkerDeps

JsonDict = dict[str, Any]
log = logging.getLogger(__name__)


class PodHandle(Protocol):
    """What a container run needs from its pod worker."""

    key: podspec.PodKey
    deps: WorkerDeps
    record: Any

    @property
    def pod(self) -> JsonDict: ...

    def stop_requested(self) -> bool: ...

    def pause(self, seconds: float) -> bool: ...

    def grace_s(self) -> float: ...

    def event(
        self, reason: str, message: str, *, container: ContainerRecord | None = None, warning: bool = False
    ) -> None: ...

    def changing(self) -> AbstractContextManager[None]: ...

    def mark_started(self) -> None: ...

    def context(self) -> PodContext: ...


class ContainerRun:
    def __init__(
        self, pod: PodHandle, spec: JsonDict, record: ContainerRecord, volume_dirs: dict[str, str]
    ) -> None:
        self._pod = pod
        self._spec = spec
        self._record = record
        self._volume_dirs = volume_dirs

    def run(self) -> bool:
        """Run until the container is done for good; True when it ended successfully."""
        try:
            return self._run()
        except Exception as err:  # a kubelet bug must not leave the container "running" forever
            log.exception("container %s/%s failed in the kubelet", self._pod.key, self._record.name)
            with self._pod.changing():
                if self._record.state != "terminated":
                    self._record.set_terminated(128, "StartError", f"kubelet error: {err}", timefmt.seconds())
            return False

    def _run(self) -> bool:
        crashes = 0
        while self._pull():
            outcome = self._run_once()
            if outcome is None:
                return False
            if not self._restarts_after(outcome):
                return outcome.exit_code == 0
            if not self._back_off(crashes):
                return False
            crashes += 1
        return False

    # -- image ----------------------------------------------------------------------------------
    def _pull(self) -> bool:
        image, rec, deps = self._record.image, self._record, self._pod.deps
        if not deps.unpullable(image):
            if rec.restart_count == 0:
                self._event("Pulled", f'Container image "{image}" already present on machine')
            return not self._pod.stop_requested()
        failure = (
            f'failed to pull and unpack image "{image}": failed to resolve reference "{image}": not found'
        )
        attempt = 0
        while not self._pod.stop_requested():
            self._event("Pulling", f'Pulling image "{image}"')
            self._event("Failed", f'Failed to pull image "{image}": {failure}', warning=True)
            self._event("Failed", "Error: ErrImagePull", warning=True)
            with self._pod.changing():
                rec.set_waiting("ErrImagePull", failure)
            if self._pod.pause(deps.pull_failure_s):
                break
            backoff = f'Back-off pulling image "{image}"'
            self._event("BackOff", backoff)
            self._event("Failed", "Error: ImagePullBackOff", warning=True)
            with self._pod.changing():
                rec.set_waiting("ImagePullBackOff", f"{backoff}: ErrImagePull: {failure}")
            self._pod.pause(deps.image_backoff_s[min(attempt, len(deps.image_backoff_s) - 1)])
            attempt += 1
        return False

    # -- one run --------------------------------------------------------------------------------
    def _launch(self) -> Launch | None:
        """Resolve env, argv and mounts, retrying config errors until fixed or stopped."""
        deps, attempt = self._pod.deps, 0
        while not self._pod.stop_requested():
            try:
                env = container_env(
                    self._pod.context(), self._spec, service_env=deps.service_env, base_env=deps.base_env
                )
                env["HOSTNAME"] = str(podspec.spec(self._pod.pod).get("hostname") or self._pod.key.name)
                return Launch(
                    argv=podspec.argv(self._spec, env, env.get("PATH", "")),
                    env=env,
                    working_dir=podspec.working_dir(self._spec, deps.working_dir),
                    mounts=podspec.mount_plan(self._spec, self._volume_dirs, env),
                    use_mount_namespace=deps.use_mount_namespace,
                )
            except ContainerStartError:
                raise
            except DagsterExtError as err:  # missing Secret/key, bad quantity, API unreachable: retried
                self._event("Failed", f"Error: {err}", warning=True)
                with self._pod.changing():
                    self._record.set_waiting(ContainerConfigError.reason, str(err))
                self._pod.pause(deps.retry_s[min(attempt, len(deps.retry_s) - 1)])
                attempt += 1
        return None

    def _run_once(self) -> Exit | None:
        try:
            launch = self._launch()
            if launch is None:
                return None
            process = self._start(launch)
        except ContainerStartError as err:
            self._event("Failed", f"Error: {err}", warning=True)
            outcome = Exit(err.exit_code, err.reason, str(err))
            now = timefmt.seconds()
            with self._pod.changing():
                self._record.set_terminated(outcome.exit_code, outcome.reason, outcome.message, now)
            return outcome
        outcome = process.supervise(
            stop_requested=self._pod.stop_requested,
            grace_s=self._pod.grace_s,
            on_stop=lambda: self._event("Killing", f"Stopping container {self._record.name}"),
        )
        self._finished(outcome, process.pid)
        return outcome

    def _start(self, launch: Launch) -> ContainerProcess:
        key, rec, deps = self._pod.key, self._record, self._pod.deps
        path, done = deps.logs.started(key, rec.name, rec.restart_count)
        self._done = done
        try:
            guard = deps.memory.guard(
                f"{key.uid}-{rec.name}-{rec.restart_count}", podspec.memory_limit_bytes(self._spec)
            )
        except OSError as err:
            raise ContainerStartError(f"cannot set up the container's memory cgroup: {err}") from err
        process = ContainerProcess(
            launch,
            guard=guard,
            log=LogWriter(path),
            pid_file=self._pod_dir() / "containers" / f"{rec.name}.pid",
        )
        self._event("Created", f"Created container: {rec.name}")
        try:
            process.start()
        except ContainerStartError:
            guard.release()
            done.set()
            raise
        self._pod.mark_started()
        self._event("Started", f"Started container {rec.name}")
        cid, now = container_id(key.uid, rec.name, str(rec.restart_count)), timefmt.seconds()
        with self._pod.changing():
            rec.set_running(cid, now)
        return process

    def _finished(self, outcome: Exit, pid: int) -> None:
        self._done.set()
        now = timefmt.seconds()
        with self._pod.changing():
            self._record.set_terminated(outcome.exit_code, outcome.reason, outcome.message, now)
        if outcome.reason == "OOMKilled":
            message = f"Memory cgroup out of memory: Killed process {pid} in container {self._record.name}"
            self._event("OOMKilling", message, warning=True)
            node = self._pod.deps.node_name  # the kubelet's node reference uses the name as uid
            self._pod.deps.events.record(ObjectRef("Node", node, node), "OOMKilling", message, warning=True)
        log.info(
            "container %s/%s exited %d (%s)",
            self._pod.key,
            self._record.name,
            outcome.exit_code,
            outcome.reason,
        )

    # -- restarts -------------------------------------------------------------------------------
    def _restarts_after(self, outcome: Exit) -> bool:
        if self._pod.stop_requested():
            return False
        policy = podspec.restart_policy(self._pod.pod)
        if self._record.init:
            return policy != "Never" and outcome.exit_code != 0
        return policy == "Always" or (policy == "OnFailure" and outcome.exit_code != 0)

    def _back_off(self, crashes: int) -> bool:
        """Restart immediately the first time, then after 10 s, 20 s, … up to 5 minutes."""
        delay = 0.0 if crashes == 0 else min(10.0 * 2 ** (crashes - 1), 300.0)
        rec, key = self._record, self._pod.key
        pod = f"{key.name}_{key.namespace}({key.uid})"
        with self._pod.changing():
            rec.begin_restart(
                "CrashLoopBackOff", f"back-off {int(delay)}s restarting failed container={rec.name} pod={pod}"
            )
        if delay:
            self._event(
                "BackOff",
                f"Back-off restarting failed container {rec.name} in pod {pod}",
                warning=True,
            )
        return not self._pod.pause(delay)

    # -- helpers --------------------------------------------------------------------------------
    def _event(self, reason: str, message: str, *, warning: bool = False) -> None:
        self._pod.event(reason, message, container=self._record, warning=warning)

    def _pod_dir(self) -> Path:
        return self._pod.deps.pods_dir / self._pod.key.dirname
