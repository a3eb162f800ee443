"""The kubelet's only door to the API: raw-JSON calls under the project's one retry policy.

Objects are plain camelCase dicts. Errors are `dagster_ext.k8s.client.errors` classes. A watch
is streamed line by line here (not via `kubernetes.watch.Watch`, whose `deserialize=False`
mode fails on ERROR events, hiding 410 Gone).
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlparse

from dagster_ext.k8s.client.connecting import ConnectionSettings, LazyApiClient
from dagster_ext.k8s.client.errors import K8sApiError, K8sNotFound, class_for_status, translate
from dagster_ext.k8s.client.retrying import RetryPolicy, call_with_retries

JsonDict = dict[str, Any]
KUBELET_RETRY = RetryPolicy(backoff_s=(0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0))
_STRATEGIC = "application/strategic-merge-patch+json"
_MERGE = "application/merge-patch+json"


def _parse(response: Any) -> JsonDict:
    data = response.data
    return dict(json.loads(data)) if data else {}


def decode_data(obj: JsonDict, *, base64_data: bool) -> dict[str, bytes]:
    """A Secret's or ConfigMap's data as bytes (Secret `data` and `binaryData` are base64)."""
    out = {
        k: (base64.b64decode(v) if base64_data else str(v).encode())
        for k, v in (obj.get("data") or {}).items()
    }
    out.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return out


class Gateway:
    def __init__(self, kubeconfig: str, *, policy: RetryPolicy = KUBELET_RETRY) -> None:
        self._client = LazyApiClient(ConnectionSettings(kubeconfig_file=kubeconfig))
        self._policy = policy
        self._stopped = threading.Event()
        self._streams: set[Any] = set()
        self._lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------------
    def _core(self) -> Any:
        from kubernetes.client import CoreV1Api

        return CoreV1Api(self._client.get())

    def _call(self, operation: str, request: Callable[[], Any]) -> Any:
        return call_with_retries(
            lambda _attempt: request(), operation=operation, policy=self._policy, sleep=self._pause
        )

    def _pause(self, seconds: float) -> None:
        self._stopped.wait(seconds)

    def stop(self) -> None:
        """Shorten retries and unblock running watches (from any thread)."""
        self._stopped.set()
        with self._lock:
            streams = list(self._streams)
        for response in streams:
            with contextlib.suppress(Exception):
                response.shutdown()

    def close(self) -> None:
        self._client.close()

    @property
    def server(self) -> tuple[str, int]:
        """(host, port) of the API server, from the kubeconfig."""
        url = urlparse(self._client.get().configuration.host)
        return url.hostname or "127.0.0.1", url.port or 443

    def ca_bundle(self) -> bytes | None:
        path = self._client.get().configuration.ssl_ca_cert
        if not path:
            return None
        with open(path, "rb") as handle:
            return handle.read()

    def server_version(self) -> str:
        from kubernetes.client import VersionApi

        api = VersionApi(self._client.get())
        return str(
            _parse(self._call("read version", lambda: api.get_code(_preload_content=False)))["gitVersion"]
        )

    # -- node and lease -----------------------------------------------------------------------
    def read_node(self, name: str) -> JsonDict | None:
        core = self._core()
        try:
            return _parse(
                self._call(f"read node {name}", lambda: core.read_node(name, _preload_content=False))
            )
        except K8sNotFound:
            return None

    def create_node(self, body: JsonDict) -> JsonDict:
        core = self._core()
        return _parse(self._call("create node", lambda: core.create_node(body, _preload_content=False)))

    def patch_node(self, name: str, patch: JsonDict, *, status: bool = False) -> JsonDict:
        core = self._core()
        method = core.patch_node_status if status else core.patch_node
        return _parse(
            self._call(
                f"patch node {name}",
                lambda: method(name, patch, _content_type=_MERGE, _preload_content=False),
            )
        )

    def apply_lease(self, body: JsonDict) -> None:
        """Create the Lease, or merge-patch its spec when it exists."""
        from kubernetes.client import CoordinationV1Api

        api = CoordinationV1Api(self._client.get())
        name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
        try:
            self._call(
                f"renew lease {name}",
                lambda: api.patch_namespaced_lease(
                    name, namespace, {"spec": body["spec"]}, _content_type=_MERGE, _preload_content=False
                ),
            )
        except K8sNotFound:
            self._call(
                f"create lease {name}",
                lambda: api.create_namespaced_lease(namespace, body, _preload_content=False),
            )

    # -- pods ---------------------------------------------------------------------------------
    def list_pods(self) -> tuple[list[JsonDict], str]:
        core = self._core()
        found = _parse(
            self._call("list pods", lambda: core.list_pod_for_all_namespaces(_preload_content=False))
        )
        return list(found.get("items") or ()), str((found.get("metadata") or {}).get("resourceVersion") or "")

    def watch_pods(
        self, resource_version: str, *, server_timeout_s: int, inactivity_timeout_s: float
    ) -> Iterator[tuple[str, JsonDict]]:
        """(type, object) pairs, including BOOKMARK; an ERROR event raises its status class."""
        from kubernetes.watch.watch import iter_resp_lines

        try:
            response = self._core().list_pod_for_all_namespaces(
                watch=True,
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=server_timeout_s,
                _request_timeout=inactivity_timeout_s,
                _preload_content=False,
            )
        except Exception as err:
            raise translate(err, operation="watch pods") from err
        with self._lock:
            self._streams.add(response)
        try:
            yield from _events(iter_resp_lines(response))
        except K8sApiError:
            raise
        except Exception as err:
            raise translate(err, operation="watch pods") from err
        finally:
            with self._lock:
                self._streams.discard(response)
            with contextlib.suppress(Exception):
                response.release_conn()

    def bind_pod(self, namespace: str, name: str, uid: str, node_name: str) -> None:
        core = self._core()
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "uid": uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
        }
        # the client cannot deserialise the Status a binding returns: keep the raw response
        self._call(
            f"bind pod {namespace}/{name}",
            lambda: core.create_namespaced_pod_binding(name, namespace, body, _preload_content=False),
        )

    def patch_pod_status(self, namespace: str, name: str, uid: str, status: JsonDict) -> JsonDict:
        """Strategic-merge the status; the uid in the patch is a precondition."""
        core = self._core()
        return _parse(
            self._call(
                f"update status of pod {namespace}/{name}",
                lambda: core.patch_namespaced_pod_status(
                    name,
                    namespace,
                    {"metadata": {"uid": uid}, "status": status},
                    _content_type=_STRATEGIC,
                    _preload_content=False,
                ),
            )
        )

    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        """Delete with grace 0 and a uid precondition (a same-named successor is never hit)."""
        core = self._core()
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}}
        with contextlib.suppress(K8sNotFound):
            self._call(
                f"delete pod {namespace}/{name}",
                lambda: core.delete_namespaced_pod(name, namespace, body=body, _preload_content=False),
            )

    # -- objects a pod consumes -----------------------------------------------------------------
    def read_config_map(self, namespace: str, name: str) -> JsonDict | None:
        core = self._core()
        try:
            return _parse(
                self._call(
                    f"read configmap {namespace}/{name}",
                    lambda: core.read_namespaced_config_map(name, namespace, _preload_content=False),
                )
            )
        except K8sNotFound:
            return None

    def read_secret(self, namespace: str, name: str) -> JsonDict | None:
        core = self._core()
        try:
            return _parse(
                self._call(
                    f"read secret {namespace}/{name}",
                    lambda: core.read_namespaced_secret(name, namespace, _preload_content=False),
                )
            )
        except K8sNotFound:
            return None

    def request_token(self, namespace: str, service_account: str, *, spec: JsonDict) -> str:
        core = self._core()
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        response = self._call(
            f"request token for {namespace}/{service_account}",
            lambda: core.create_namespaced_service_account_token(
                service_account, namespace, body, _preload_content=False
            ),
        )
        return str(_parse(response)["status"]["token"])

    # -- events -------------------------------------------------------------------------------
    def create_event(self, namespace: str, body: JsonDict) -> None:
        core = self._core()
        self._call(
            "create event", lambda: core.create_namespaced_event(namespace, body, _preload_content=False)
        )

    def patch_event(self, namespace: str, name: str, patch: JsonDict) -> None:
        core = self._core()
        self._call(
            "update event",
            lambda: core.patch_namespaced_event(
                name, namespace, patch, _content_type=_MERGE, _preload_content=False
            ),
        )


def _events(lines: Iterator[Any]) -> Iterator[tuple[str, JsonDict]]:
    for line in lines:
        if not line or not str(line).strip():
            continue
        event = json.loads(line)
        kind, obj = str(event.get("type")), dict(event.get("object") or {})
        if kind == "ERROR":
            code = int(obj.get("code") or 500)
            raise class_for_status(code)(f"watch pods: HTTP {code}: {obj.get('message')}", status=code)
        yield kind, obj


class ApiObjectLookup:
    """`environment.ObjectLookup` over the gateway: ConfigMap/Secret data as bytes."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def config_map(self, namespace: str, name: str) -> dict[str, bytes] | None:
        found = self._gateway.read_config_map(namespace, name)
        return decode_data(found, base64_data=False) if found is not None else None

    def secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        found = self._gateway.read_secret(namespace, name)
        return decode_data(found, base64_data=True) if found is not None else None
