"""`K8sGateway`: the one object adapters hold to talk to Kubernetes.

It binds a lazily-built API client and the retry policy to the operation modules, so adapters
say `gateway.create_k8s_job(namespace=..., manifest=...)` and never see the kubernetes client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dagster_ext.k8s.client import creating, deleting, reading
from dagster_ext.k8s.client._raw import JsonDict
from dagster_ext.k8s.client.connecting import ConnectionSettings, LazyApiClient
from dagster_ext.k8s.client.deleting import Propagation
from dagster_ext.k8s.client.log_streaming import PodLogStream
from dagster_ext.k8s.client.retrying import DEFAULT_RETRY, RetryPolicy
from dagster_ext.k8s.client.watching import Resource, ResourceWatch, WatchSettings


class K8sGateway:
    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        policy: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._client = LazyApiClient(settings)
        self._policy = policy
        self._sleep = sleep

    @property
    def api_client(self) -> Any:
        return self._client.get()

    def close(self) -> None:
        self._client.close()

    def _common(self) -> dict[str, Any]:
        return {"policy": self._policy, "sleep": self._sleep}

    def create_k8s_job(self, *, namespace: str, manifest: JsonDict) -> JsonDict:
        return creating.create_k8s_job(
            self.api_client, namespace=namespace, manifest=manifest, **self._common()
        )

    def delete_k8s_job(
        self,
        *,
        namespace: str,
        name: str,
        propagation: Propagation = "Foreground",
        grace_period_s: int | None = None,
    ) -> bool:
        return deleting.delete_k8s_job(
            self.api_client,
            namespace=namespace,
            name=name,
            propagation=propagation,
            grace_period_s=grace_period_s,
            **self._common(),
        )

    def delete_k8s_jobs(
        self, *, namespace: str, label_selector: str, propagation: Propagation = "Foreground"
    ) -> list[str]:
        return deleting.delete_k8s_jobs(
            self.api_client,
            namespace=namespace,
            label_selector=label_selector,
            propagation=propagation,
            **self._common(),
        )

    def read_k8s_job(self, *, namespace: str, name: str) -> JsonDict | None:
        return reading.read_k8s_job(self.api_client, namespace=namespace, name=name, **self._common())

    def read_pod(self, *, namespace: str, name: str) -> JsonDict | None:
        return reading.read_pod(self.api_client, namespace=namespace, name=name, **self._common())

    def list_k8s_jobs(self, *, namespace: str, label_selector: str) -> list[JsonDict]:
        return reading.list_k8s_jobs(
            self.api_client, namespace=namespace, label_selector=label_selector, **self._common()
        )

    def list_pods(self, *, namespace: str, label_selector: str) -> list[JsonDict]:
        return reading.list_pods(
            self.api_client, namespace=namespace, label_selector=label_selector, **self._common()
        )

    def list_nodes(self) -> list[JsonDict]:
        return reading.list_nodes(self.api_client, **self._common())

    def list_events(self, *, namespace: str, involved_kind: str, involved_name: str) -> list[JsonDict]:
        return reading.list_events(
            self.api_client,
            namespace=namespace,
            involved_kind=involved_kind,
            involved_name=involved_name,
            **self._common(),
        )

    def read_pod_log_tail(
        self, *, namespace: str, pod: str, container: str = "dagster", tail_lines: int = 25
    ) -> str | None:
        return reading.read_pod_log_tail(
            self.api_client,
            namespace=namespace,
            pod=pod,
            container=container,
            tail_lines=tail_lines,
            **self._common(),
        )

    def follow_pod_log(
        self, *, namespace: str, pod: str, container: str = "dagster", since_time: str | None = None
    ) -> PodLogStream:
        """A stream of the container's log lines as they are written; opened when iterated."""
        return PodLogStream(
            self.api_client,
            namespace=namespace,
            pod=pod,
            container=container,
            since_time=since_time,
            **self._common(),
        )

    def watch(
        self,
        *,
        resource: Resource,
        namespace: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        settings: WatchSettings | None = None,
        initial_list: bool = True,
    ) -> ResourceWatch:
        return ResourceWatch(
            self.api_client,
            resource=resource,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            settings=settings,
            sleep=self._sleep,
            initial_list=initial_list,
        )
