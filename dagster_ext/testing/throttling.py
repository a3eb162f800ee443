"""Real throttling by the API server's Priority and Fairness (APF), for fault tests.

`apf_throttle` gives chosen ServiceAccounts a priority level with a single seat: a request that
finds the seat taken is rejected by the real kube-apiserver with 429 and a Retry-After header, the
way a busy production control plane answers. Seats are a share of the server's concurrency limit
(`--max-requests-inflight` + `--max-mutating-requests-inflight`, 600 by default) in proportion to
`nominalConcurrencyShares`; a share of 1 next to the suggested levels' 245 would still get 3 seats.
Instead of restarting the API server with lower limits, a ballast level that no request uses holds
a large share (and lends all of it, so the other levels lose nothing under load): the throttled
level's nominal limit is then exactly 1, which `apf_throttle` checks in `/metrics` before it yields.
The throttled level neither lends nor borrows, and rejects instead of queueing.

`Throttle.set_seats(api_client, 0)` closes the level until it is set back to 1, but a closed level
still admits a request when none of its requests is executing (the API server's rule for a
request wider than the limit): a client whose requests do not overlap is never rejected. So a
second ServiceAccount (its own FlowSchema, same level) keeps the seat busy: `SeatHolder` without
gaps while its one request lasts (a request that never finishes sending its body); `SeatLoad` part
of the time (back-to-back short requests), so later requests meet 429s too and still get through
after a few retries.
Everything is API objects: leaving the block deletes them, and the API server is never restarted.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dagster_ext.errors import DagsterExtError

BALLAST_SHARES = 400
FLOWCONTROL = "flowcontrol.apiserver.k8s.io/v1"
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


class ThrottleError(DagsterExtError):
    """The throttling objects were not applied by the API server in time."""


def priority_level(name: str, *, shares: int, lendable_percent: int, borrowing: bool) -> dict[str, Any]:
    limited: dict[str, Any] = {
        "nominalConcurrencyShares": shares,
        "lendablePercent": lendable_percent,
        "limitResponse": {"type": "Reject"},
    }
    if not borrowing:
        limited["borrowingLimitPercent"] = 0
    return {
        "apiVersion": FLOWCONTROL,
        "kind": "PriorityLevelConfiguration",
        "metadata": {"name": name},
        "spec": {"type": "Limited", "limited": limited},
    }


def flow_schema(name: str, *, level: str, namespace: str, service_account: str) -> dict[str, Any]:
    """Every request of one ServiceAccount, resource or not, to `level` (before the suggested
    `service-accounts` schema at precedence 9000)."""
    everything = {
        "resourceRules": [
            {
                "verbs": ["*"],
                "apiGroups": ["*"],
                "resources": ["*"],
                "namespaces": ["*"],
                "clusterScope": True,
            }
        ],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
    }
    subject = {"kind": "ServiceAccount", "serviceAccount": {"name": service_account, "namespace": namespace}}
    return {
        "apiVersion": FLOWCONTROL,
        "kind": "FlowSchema",
        "metadata": {"name": name},
        "spec": {
            "priorityLevelConfiguration": {"name": level},
            "matchingPrecedence": 1000,
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [{"subjects": [subject], **everything}],
        },
    }


def metric_samples(text: str, metric: str) -> Iterable[tuple[dict[str, str], float]]:
    """(labels, value) of every sample of `metric` in a Prometheus text exposition."""
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and match["name"] == metric:
            yield dict(_LABEL.findall(match["labels"])), float(match["value"])


def scrape_metrics(api_client: Any) -> str:
    """The API server's `/metrics`, read with `api_client`'s (admin) credentials."""
    response = api_client.call_api(
        "/metrics", "GET", auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True
    )
    return str(response.data.decode())


@dataclass(frozen=True)
class Throttle:
    """The throttled priority level and the FlowSchema of each throttled ServiceAccount."""

    level: str
    flow_schemas: Mapping[str, str]
    """ServiceAccount name -> its FlowSchema's name."""

    def rejected(self, api_client: Any, service_account: str) -> int:
        """Requests of `service_account` the API server rejected with 429 so far."""
        schema = self.flow_schemas[service_account]
        text = scrape_metrics(api_client)
        return int(
            sum(
                value
                for labels, value in metric_samples(text, "apiserver_flowcontrol_rejected_requests_total")
                if labels.get("flow_schema") == schema and labels.get("priority_level") == self.level
            )
        )

    def set_seats(self, api_client: Any, seats: int, *, timeout_s: float = 30.0) -> None:
        """0: a request of the throttled ServiceAccounts is rejected unless none is executing (the
        level's share is 0 and it cannot borrow); 1: one at a time. Waits until the API server
        applies it."""
        from kubernetes import client

        body = {"spec": {"limited": {"nominalConcurrencyShares": seats}}}
        client.FlowcontrolApiserverV1Api(api_client).patch_priority_level_configuration(self.level, body)
        _wait_for_seats(self, api_client, seats, timeout_s)

    def nominal_seats(self, api_client: Any) -> int | None:
        text = scrape_metrics(api_client)
        for labels, value in metric_samples(text, "apiserver_flowcontrol_nominal_limit_seats"):
            if labels.get("priority_level") == self.level:
                return int(value)
        return None


@contextmanager
def apf_throttle(
    api_client: Any, *, name: str, namespace: str, service_accounts: Iterable[str], timeout_s: float = 30.0
) -> Iterator[Throttle]:
    """Throttle `service_accounts` of `namespace` to one API server seat while the block runs."""
    from kubernetes import client

    api = client.FlowcontrolApiserverV1Api(api_client)
    level, ballast = f"{name}-throttled", f"{name}-ballast"
    schemas = {sa: f"{name}-{sa}" for sa in service_accounts}
    throttle = Throttle(level=level, flow_schemas=schemas)
    created_levels: list[str] = []
    created_schemas: list[str] = []
    try:
        for body in (
            priority_level(ballast, shares=BALLAST_SHARES, lendable_percent=100, borrowing=True),
            priority_level(level, shares=1, lendable_percent=0, borrowing=False),
        ):
            api.create_priority_level_configuration(body)
            created_levels.append(body["metadata"]["name"])
        for sa, schema in schemas.items():
            api.create_flow_schema(flow_schema(schema, level=level, namespace=namespace, service_account=sa))
            created_schemas.append(schema)
        _wait_for_seats(throttle, api_client, 1, timeout_s)
        yield throttle
    finally:
        for schema in created_schemas:
            with suppress(Exception):
                api.delete_flow_schema(schema)
        for created in reversed(created_levels):
            with suppress(Exception):
                api.delete_priority_level_configuration(created)


def _wait_for_seats(throttle: Throttle, api_client: Any, wanted: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    seats = throttle.nominal_seats(api_client)
    while seats != wanted:
        if time.monotonic() > deadline:
            raise ThrottleError(
                f"priority level {throttle.level} has {seats} seats, not {wanted}, after {timeout_s}s"
            )
        time.sleep(0.2)
        seats = throttle.nominal_seats(api_client)


def service_account_token(core_v1: Any, *, namespace: str, name: str, expiration_s: int = 3600) -> str:
    """A bound token for ServiceAccount `namespace/name` (TokenRequest), to act as it from here."""
    request = {"spec": {"expirationSeconds": expiration_s}}
    return str(core_v1.create_namespaced_service_account_token(name, namespace, request).status.token)


def kubeconfig_as_token(admin_kubeconfig: Path, token: str, out: Path) -> Path:
    """A copy of `admin_kubeconfig` (same server and CA) whose only user presents `token`."""
    document = yaml.safe_load(admin_kubeconfig.read_text())
    context = next(c for c in document["contexts"] if c["name"] == document["current-context"])
    document["users"] = [{"name": "throttled", "user": {"token": token}}]
    context["context"]["user"] = "throttled"
    document["contexts"] = [context]
    out.write_text(yaml.safe_dump(document))
    out.chmod(0o600)
    return out


@dataclass
class SeatLoad:
    """Back-to-back `GET /version` as one throttled ServiceAccount, on a thread, until `stop()` or
    `max_s` or `max_requests` (bounded: it ends by itself). Counts the answers by status."""

    kubeconfig: Path
    """Acting as the throttled ServiceAccount (see `kubeconfig_as_token`)."""
    pause_s: float = 0.005
    """Between requests: the seat is busy only part of the time, so throttled clients get through
    after a few retries instead of running out of them."""
    max_s: float = 300.0
    max_requests: int = 100_000
    statuses: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> SeatLoad:
        self._thread = threading.Thread(target=self._run, name="apf-seat-load", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        from kubernetes import config

        api_client = config.new_client_from_config(config_file=str(self.kubeconfig))
        deadline = time.monotonic() + self.max_s
        try:
            for _ in range(self.max_requests):
                if self._stop.is_set() or time.monotonic() > deadline:
                    break
                status = _get_version(api_client)
                self.statuses[status] = self.statuses.get(status, 0) + 1
                self._stop.wait(self.pause_s)
        finally:
            api_client.close()


def _get_version(api_client: Any) -> int:
    from kubernetes.client.exceptions import ApiException

    try:
        response = api_client.call_api(
            "/version", "GET", auth_settings=["BearerToken"], _preload_content=False, _request_timeout=10
        )
    except ApiException as err:
        return int(err.status or 0)
    except Exception:  # a dropped connection: the load goes on
        return 0
    status = getattr(response, "status", None)  # the raw response (`_preload_content=False`)
    response.release_conn()
    return int(status or 0)


@dataclass
class SeatHolder:
    """Holds the throttled level's seat without a gap, until `stop()` or `max_s`: one
    SelfSubjectAccessReview (any authenticated user may create one; nothing is stored) as a
    throttled ServiceAccount, whose body is sent a byte at a time. The API server keeps the seat
    while its handler reads the body, so every request that arrives meanwhile is rejected; with
    no request executing the server would admit even at zero seats, which is why short requests
    (`SeatLoad`) leave gaps that a client's few requests slip through. The request must be one the
    ServiceAccount is allowed to make: authorization runs after APF admitted it, and a 403 would
    free the seat at once. Closing the connection ends the request."""

    kubeconfig: Path
    byte_every_s: float = 0.1
    max_s: float = 50.0
    """Below the API server's request timeout (60 s by default)."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> SeatHolder:
        self._thread = threading.Thread(target=self._run, name="apf-seat-holder", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        import http.client
        import ssl
        from urllib.parse import urlparse

        from kubernetes import config

        api_client = config.new_client_from_config(config_file=str(self.kubeconfig))
        configuration = api_client.configuration
        url = urlparse(configuration.host)
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
        conn = http.client.HTTPSConnection(url.hostname or "", url.port or 443, context=context, timeout=30)
        try:
            # every authenticated user may create it (system:basic-user): authorization, which runs
            # after APF admitted the request, must not answer 403 and free the seat
            conn.putrequest("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
            conn.putheader("Authorization", configuration.get_api_key_with_prefix("BearerToken"))
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", "1000000")  # never all sent
            conn.endheaders()
            deadline = time.monotonic() + self.max_s
            while not self._stop.wait(self.byte_every_s) and time.monotonic() < deadline:
                conn.send(b" ")
        except OSError:  # the API server dropped the request: the hold ends early
            pass
        finally:
            conn.close()
            api_client.close()
