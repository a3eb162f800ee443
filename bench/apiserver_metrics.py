"""Kubernetes API request counts from the apiserver's own `/metrics`, attributed to one client.

`apiserver_request_total{verb,resource,subresource,code,component,...}` has no label naming the
client (`component` is "apiserver" or empty, not the caller), so it counts the kubelet, the
controller-manager and the bench's own watches along with the executor. To isolate the executor
we give it a dedicated ServiceAccount and classify that ServiceAccount's requests with
API Priority and Fairness FlowSchemas, one per (verb, resource): the apiserver then counts them in
`apiserver_flowcontrol_dispatched_requests_total{flow_schema}`. Requests APF never sees (long-running
non-watch ones: `pods/log`, exec, proxy) are taken from `apiserver_request_total`; during a run only
the executor reads pod logs.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

FLOW_PREFIX = "bench-exec"
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
RESOURCES = ("jobs", "jobs/status", "pods", "events")
# Requests that bypass APF (long-running, not watches) and that only the executor makes in a run.
APF_BYPASS = (("GET", "pods", "log"),)
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Snapshot:
    """One scrape, reduced to the two counters we use."""

    all_requests: Counter[tuple[str, str, str]]  # (verb, resource, subresource) -> count
    flows: Counter[str]  # flow schema -> dispatched count

    def minus(self, earlier: Snapshot) -> Snapshot:
        return Snapshot(
            all_requests=_delta(self.all_requests, earlier.all_requests),
            flows=_delta(self.flows, earlier.flows),
        )


def _delta(now: Counter[Any], before: Counter[Any]) -> Counter[Any]:
    return Counter({key: now[key] - before.get(key, 0) for key in now if now[key] - before.get(key, 0)})


def samples(text: str, metric: str) -> Iterable[tuple[dict[str, str], float]]:
    """(labels, value) of every sample of `metric` in a Prometheus text exposition."""
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and match["name"] == metric:
            yield dict(_LABEL.findall(match["labels"])), float(match["value"])


def parse(text: str) -> Snapshot:
    requests: Counter[tuple[str, str, str]] = Counter()
    for labels, value in samples(text, "apiserver_request_total"):
        requests[(labels.get("verb", ""), labels.get("resource", ""), labels.get("subresource", ""))] += int(
            value
        )
    flows: Counter[str] = Counter()
    for labels, value in samples(text, "apiserver_flowcontrol_dispatched_requests_total"):
        flows[labels.get("flow_schema", "")] += int(value)
    return Snapshot(all_requests=requests, flows=flows)


def scrape(api_client: Any) -> Snapshot:
    """Read `/metrics` with the admin credentials of `api_client` (a kubernetes ApiClient)."""
    response = api_client.call_api(
        "/metrics", "GET", auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True
    )
    return parse(response.data.decode())


# -- attribution -------------------------------------------------------------------------------
def flow_name(verb: str, resource: str) -> str:
    return f"{FLOW_PREFIX}-{verb}-{resource.replace('/', '.')}"


def _flow_schema(
    name: str, *, precedence: int, subject: Mapping[str, str], rule: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "FlowSchema",
        "metadata": {"name": name},
        "spec": {
            # exempt: the executor's requests are counted, never queued or throttled by APF
            "priorityLevelConfiguration": {"name": "exempt"},
            "matchingPrecedence": precedence,
            "rules": [{"subjects": [{"kind": "ServiceAccount", "serviceAccount": dict(subject)}], **rule}],
        },
    }


def _resource_rule(verbs: list[str], resources: list[str]) -> dict[str, Any]:
    return {
        "resourceRules": [
            {
                "verbs": verbs,
                "apiGroups": ["*"],
                "resources": resources,
                "namespaces": ["*"],
                "clusterScope": True,
            }
        ]
    }


def attribution_flow_schemas(*, service_account: str, namespace: str) -> list[dict[str, Any]]:
    """FlowSchemas that count `service_account`'s requests per verb and resource (pure)."""
    subject = {"name": service_account, "namespace": namespace}
    schemas = [
        _flow_schema(
            flow_name(verb, resource),
            precedence=100,
            subject=subject,
            rule=_resource_rule([verb], [resource]),
        )
        for verb in VERBS
        for resource in RESOURCES
    ]
    schemas += [
        _flow_schema(
            flow_name(verb, "other"), precedence=200, subject=subject, rule=_resource_rule([verb], ["*"])
        )
        for verb in VERBS
    ]
    other = {**_resource_rule(["*"], ["*"]), "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]}
    schemas.append(_flow_schema(flow_name("any", "other"), precedence=300, subject=subject, rule=other))
    return schemas


@dataclass(frozen=True)
class Requests:
    """Requests in one measurement window."""

    executor: Counter[str]  # "VERB resource" -> count, the executor's ServiceAccount only
    all_clients: Counter[str]  # "VERB resource[/subresource]" -> count, every client

    @property
    def executor_total(self) -> int:
        return sum(self.executor.values())

    @property
    def all_clients_total(self) -> int:
        return sum(self.all_clients.values())


def requests_in(window: Snapshot) -> Requests:
    executor: Counter[str] = Counter()
    for flow, count in window.flows.items():
        if flow.startswith(FLOW_PREFIX + "-"):
            verb, _, resource = flow[len(FLOW_PREFIX) + 1 :].partition("-")
            executor[f"{verb.upper()} {resource.replace('.', '/')}"] += count
    for verb, resource, subresource in APF_BYPASS:
        count = window.all_requests.get((verb, resource, subresource), 0)
        if count:
            executor[f"{verb} {resource}/{subresource}"] += count
    all_clients: Counter[str] = Counter()
    for (verb, resource, subresource), count in window.all_requests.items():
        key = f"{verb} {resource or '(non-resource)'}" + (f"/{subresource}" if subresource else "")
        all_clients[key] += count
    return Requests(executor=executor, all_clients=all_clients)
