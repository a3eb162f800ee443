"""Point reads: K8s Jobs, the pods of a K8s Job, Events of an object, nodes, the tail of a pod's log.

Used for diagnostics and for one-off checks; steady-state monitoring uses `watching`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dagster_ext.k8s.client._raw import JsonDict, batch_api, core_api, parse
from dagster_ext.k8s.client.errors import K8sNotFound
from dagster_ext.k8s.client.retrying import DEFAULT_RETRY, RetryPolicy, call_with_retries

Sleep = Callable[[float], None] | None


def _call(operation: str, fn: Callable[[], Any], policy: RetryPolicy, sleep: Sleep) -> Any:
    kwargs = {"sleep": sleep} if sleep is not None else {}
    return call_with_retries(lambda _attempt: fn(), operation=operation, policy=policy, **kwargs)


def _read_or_none(
    operation: str, fn: Callable[[], Any], policy: RetryPolicy, sleep: Sleep
) -> JsonDict | None:
    """One object by name; None when it does not exist."""
    try:
        return parse(_call(operation, fn, policy, sleep))
    except K8sNotFound:
        return None


def read_k8s_job(
    api_client: Any, *, namespace: str, name: str, policy: RetryPolicy = DEFAULT_RETRY, sleep: Sleep = None
) -> JsonDict | None:
    batch = batch_api(api_client)
    return _read_or_none(
        f"read K8s Job {namespace}/{name}",
        lambda: batch.read_namespaced_job(
            name, namespace, _preload_content=False, _request_timeout=policy.request_timeout_s
        ),
        policy,
        sleep,
    )


def list_k8s_jobs(
    api_client: Any,
    *,
    namespace: str,
    label_selector: str,
    policy: RetryPolicy = DEFAULT_RETRY,
    sleep: Sleep = None,
) -> list[JsonDict]:
    batch = batch_api(api_client)
    what = f"list K8s Jobs {namespace} {label_selector}"
    return _items(
        what,
        lambda: batch.list_namespaced_job(
            namespace,
            label_selector=label_selector,
            _preload_content=False,
            _request_timeout=policy.request_timeout_s,
        ),
        policy,
        sleep,
    )


def list_pods(
    api_client: Any,
    *,
    namespace: str,
    label_selector: str,
    policy: RetryPolicy = DEFAULT_RETRY,
    sleep: Sleep = None,
) -> list[JsonDict]:
    core = core_api(api_client)
    what = f"list pods {namespace} {label_selector}"
    return _items(
        what,
        lambda: core.list_namespaced_pod(
            namespace,
            label_selector=label_selector,
            _preload_content=False,
            _request_timeout=policy.request_timeout_s,
        ),
        policy,
        sleep,
    )


def list_nodes(
    api_client: Any, *, policy: RetryPolicy = DEFAULT_RETRY, sleep: Sleep = None
) -> list[JsonDict]:
    """All nodes (cluster-scoped: needs a ClusterRole granting `list nodes`)."""
    core = core_api(api_client)
    return _items(
        "list nodes",
        lambda: core.list_node(_preload_content=False, _request_timeout=policy.request_timeout_s),
        policy,
        sleep,
    )


def _items(what: str, call: Any, policy: RetryPolicy, sleep: Sleep) -> list[JsonDict]:
    """The `items` of one list request, read raw and retried by `policy`."""
    return list(parse(_call(what, call, policy, sleep)).get("items", []))


def list_events(
    api_client: Any,
    *,
    namespace: str,
    involved_kind: str,
    involved_name: str,
    policy: RetryPolicy = DEFAULT_RETRY,
    sleep: Sleep = None,
) -> list[JsonDict]:
    """Events about one object, oldest first."""
    core = core_api(api_client)
    selector = f"involvedObject.kind={involved_kind},involvedObject.name={involved_name}"
    found = parse(
        _call(
            f"list events of {involved_kind} {namespace}/{involved_name}",
            lambda: core.list_namespaced_event(
                namespace,
                field_selector=selector,
                _preload_content=False,
                _request_timeout=policy.request_timeout_s,
            ),
            policy,
            sleep,
        )
    )
    items = list(found.get("items", []))
    items.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    return items


def read_pod_log_tail(
    api_client: Any,
    *,
    namespace: str,
    pod: str,
    container: str = "dagster",
    tail_lines: int = 25,
    policy: RetryPolicy = DEFAULT_RETRY,
    sleep: Sleep = None,
) -> str | None:
    """The last lines of a container's log; None when the pod or log is not (yet) there."""
    core = core_api(api_client)
    try:
        response = _call(
            f"read log of {namespace}/{pod}/{container}",
            lambda: core.read_namespaced_pod_log(
                pod,
                namespace,
                container=container,
                tail_lines=tail_lines,
                _preload_content=False,
                _request_timeout=policy.request_timeout_s,
            ),
            policy,
            sleep,
        )
    except K8sNotFound:
        return None
    except Exception as err:  # a pod that never started has no log: 400 "waiting to start"
        if getattr(err, "status", None) == 400:
            return None
        raise
    data = response.data
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)


def read_pod(
    api_client: Any, *, namespace: str, name: str, policy: RetryPolicy = DEFAULT_RETRY, sleep: Sleep = None
) -> JsonDict | None:
    core = core_api(api_client)
    return _read_or_none(
        f"read pod {namespace}/{name}",
        lambda: core.read_namespaced_pod(
            name, namespace, _preload_content=False, _request_timeout=policy.request_timeout_s
        ),
        policy,
        sleep,
    )
