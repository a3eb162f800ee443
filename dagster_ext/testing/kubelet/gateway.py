"""The kubelet's only door to the API: raw-JSON calls under the project's one retry policy.

Objects are plain camelCase dicts. Errors are `dagster_ext.k8s.client.errors` classes. Every
request has a (connect, read) timeout, so a stalled API server fails and is retried. A watch
is streamed line by line here (not via `kubernetes.watch.Watch`, whose `deserialize=False`
mode fails on ERROR events with a KeyError, hiding 410 Gone).
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
REQUEST_TIMEOUT_S = (5.0, 30.0)
_RAW: JsonDict = {"_preload_content": False, "_request_timeout": REQUEST_TIMEOUT_S}
_STRATEGIC = {"_content_type": "application/strategic-merge-patch+json"}
_MERGE = {"_content_type": "application/merge-patch+json"}


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


class Gateway:
    def __init__(self, kubeconfig: str, *, policy: RetryPolicy = KUBELET_RETRY) -> None:
        self._client = LazyApiClient(ConnectionSettings(kubeconfig_file=kubeconfig))
        self._policy = policy
        self._stopped = threading.Event()
        self._streams: set[Any] = set()
        self._lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------------
    def _api(self, name: str) -> Any:
        from kubernetes import client

        return getattr(client, name)(self._client.get())

    def _request(self, operation: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> JsonDict:
        """One API call with retries; the parsed JSON body."""
        response = call_with_retries(
            lambda _attempt: method(*args, **_RAW, **kwargs),
            operation=operation,
            policy=self._policy,
            sleep=self._pause,
        )
        return _parse(response)

    def _read(self, operation: str, method: Callable[..., Any], *args: Any) -> JsonDict | None:
        try:
            return self._request(operation, method, *args)
        except K8sNotFound:
            return None

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
        return str(self._request("read version", self._api("VersionApi").get_code)["gitVersion"])

    # -- node and lease -----------------------------------------------------------------------
    def read_node(self, name: str) -> JsonDict | None:
        return self._read(f"read node {name}", self._api("CoreV1Api").read_node, name)

    def create_node(self, body: JsonDict) -> JsonDict:
        return self._request("create node", self._api("CoreV1Api").create_node, body)

    def patch_node(self, name: str, patch: JsonDict, *, status: bool = False) -> JsonDict:
        core = self._api("CoreV1Api")
        method = core.patch_node_status if status else core.patch_node
        return self._request(f"patch node {name}", method, name, patch, **_MERGE)

    def apply_lease(self, body: JsonDict) -> None:
        """Merge-patch the Lease's spec, creating the Lease when it does not exist."""
        api = self._api("CoordinationV1Api")
        name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
        try:
            patch = {"spec": body["spec"]}
            self._request(f"renew lease {name}", api.patch_namespaced_lease, name, namespace, patch, **_MERGE)
        except K8sNotFound:
            self._request(f"create lease {name}", api.create_namespaced_lease, namespace, body)

    # -- pods ---------------------------------------------------------------------------------
    def list_pods(self) -> tuple[list[JsonDict], str]:
        found = self._request("list pods", self._api("CoreV1Api").list_pod_for_all_namespaces)
        return list(found.get("items") or ()), str((found.get("metadata") or {}).get("resourceVersion") or "")

    def watch_pods(
        self, resource_version: str, *, server_timeout_s: int, inactivity_timeout_s: float
    ) -> Iterator[tuple[str, JsonDict]]:
        """(type, object) pairs, including BOOKMARK; an ERROR event raises its status class."""
        from kubernetes.watch.watch import iter_resp_lines

        try:
            response = self._api("CoreV1Api").list_pod_for_all_namespaces(
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
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "uid": uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
        }
        # raw response: the client cannot deserialise the Status a binding returns
        core = self._api("CoreV1Api")
        self._request(
            f"bind pod {namespace}/{name}", core.create_namespaced_pod_binding, name, namespace, body
        )

    def patch_pod_status(self, namespace: str, name: str, uid: str, status: JsonDict) -> JsonDict:
        """Strategic-merge the status; the uid in the patch is a precondition."""
        patch = {"metadata": {"uid": uid}, "status": status}
        method = self._api("CoreV1Api").patch_namespaced_pod_status
        return self._request(
            f"update status of pod {namespace}/{name}", method, name, namespace, patch, **_STRATEGIC
        )

    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        """Delete with grace 0 and a uid precondition (a same-named successor is never hit)."""
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}}
        method = self._api("CoreV1Api").delete_namespaced_pod
        with contextlib.suppress(K8sNotFound):
            self._request(f"delete pod {namespace}/{name}", method, name, namespace, body=body)

    # -- objects a pod consumes -----------------------------------------------------------------
    def read_config_map(self, namespace: str, name: str) -> JsonDict | None:
        method = self._api("CoreV1Api").read_namespaced_config_map
        return self._read(f"read configmap {namespace}/{name}", method, name, namespace)

    def read_secret(self, namespace: str, name: str) -> JsonDict | None:
        method = self._api("CoreV1Api").read_namespaced_secret
        return self._read(f"read secret {namespace}/{name}", method, name, namespace)

    def request_token(self, namespace: str, service_account: str, *, spec: JsonDict) -> str:
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        method = self._api("CoreV1Api").create_namespaced_service_account_token
        found = self._request(
            f"request token for {namespace}/{service_account}", method, service_account, namespace, body
        )
        return str(found["status"]["token"])

    # -- events -------------------------------------------------------------------------------
    def create_event(self, namespace: str, body: JsonDict) -> None:
        self._request("create event", self._api("CoreV1Api").create_namespaced_event, namespace, body)

    def patch_event(self, namespace: str, name: str, patch: JsonDict) -> None:
        method = self._api("CoreV1Api").patch_namespaced_event
        self._request("update event", method, name, namespace, patch, **_MERGE)


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
