"""Pure parts of the fault-test helpers: APF objects, metric parsing, proxy kubeconfigs; and the
real toxiproxy server (built from Go modules) in front of a loopback HTTP server."""

from __future__ import annotations

import http.server
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from dagster_ext.testing.throttling import (
    flow_schema,
    kubeconfig_as_token,
    metric_samples,
    priority_level,
)
from dagster_ext.testing.toxiproxy import Proxy, Toxiproxy, kubeconfig_via, upstream_of

KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [
        {"name": "c", "cluster": {"server": "https://10.1.2.3:6443", "certificate-authority-data": "Q0E="}}
    ],
    "users": [{"name": "admin", "user": {"token": "admin-token"}}],
    "contexts": [{"name": "c", "context": {"cluster": "c", "user": "admin"}}],
    "current-context": "c",
}


def test_the_throttled_level_neither_lends_nor_borrows_and_rejects() -> None:
    level = priority_level("t", shares=1, lendable_percent=0, borrowing=False)["spec"]["limited"]
    assert level == {
        "nominalConcurrencyShares": 1,
        "lendablePercent": 0,
        "borrowingLimitPercent": 0,
        "limitResponse": {"type": "Reject"},
    }
    ballast = priority_level("b", shares=400, lendable_percent=100, borrowing=True)["spec"]["limited"]
    assert "borrowingLimitPercent" not in ballast and ballast["lendablePercent"] == 100


def test_the_flow_schema_matches_one_service_account_before_the_suggested_ones() -> None:
    spec = flow_schema("f", level="t", namespace="ns", service_account="sa")["spec"]
    assert spec["priorityLevelConfiguration"] == {"name": "t"}
    assert spec["matchingPrecedence"] < 9000  # the suggested `service-accounts` schema
    (rule,) = spec["rules"]
    assert rule["subjects"] == [
        {"kind": "ServiceAccount", "serviceAccount": {"name": "sa", "namespace": "ns"}}
    ]
    assert rule["nonResourceRules"] and rule["resourceRules"]


def test_metric_samples_reads_labels_and_values() -> None:
    text = (
        "# HELP x\n"
        "apiserver_flowcontrol_rejected_requests_total"
        '{flow_schema="f",priority_level="t",reason="concurrency-limit"} 7\n'
        'apiserver_flowcontrol_rejected_requests_total_other{flow_schema="f"} 1\n'
    )
    samples = list(metric_samples(text, "apiserver_flowcontrol_rejected_requests_total"))
    assert samples == [({"flow_schema": "f", "priority_level": "t", "reason": "concurrency-limit"}, 7.0)]


def test_kubeconfigs_for_a_token_and_through_a_proxy(tmp_path: Path) -> None:
    admin = tmp_path / "admin"
    admin.write_text(yaml.safe_dump(KUBECONFIG))
    as_sa = yaml.safe_load(kubeconfig_as_token(admin, "sa-token", tmp_path / "sa").read_text())
    assert as_sa["users"] == [{"name": "throttled", "user": {"token": "sa-token"}}]
    assert as_sa["contexts"][0]["context"] == {"cluster": "c", "user": "throttled"}
    proxy = Proxy(server=None, name="p", listen="127.0.0.1:4000")  # type: ignore[arg-type]
    via = yaml.safe_load(kubeconfig_via(admin, proxy, tmp_path / "via").read_text())
    assert via["clusters"][0]["cluster"] == {
        "server": "https://127.0.0.1:4000",
        "certificate-authority-data": "Q0E=",
    }
    assert upstream_of("https://10.1.2.3:6443") == "10.1.2.3:6443"


@pytest.fixture
def web() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.timeout(300)  # the first call builds toxiproxy from Go modules
def test_toxics_slow_and_reset_connections_on_loopback(web: str) -> None:
    def get(proxy: Proxy) -> tuple[str, float]:
        started = time.monotonic()
        try:
            urllib.request.urlopen(f"http://{proxy.listen}/", timeout=5).read()
            outcome = "ok"
        except OSError as err:
            outcome = type(err).__name__
        return outcome, time.monotonic() - started

    with Toxiproxy.start() as toxi:
        proxy = toxi.proxy("web", upstream=web)
        assert proxy.listen.startswith("127.0.0.1:")
        assert get(proxy)[0] == "ok"
        with proxy.toxic("latency", latency=400):
            outcome, took = get(proxy)
            assert outcome == "ok" and took >= 0.4
        with proxy.toxic("reset_peer", timeout=0):
            assert get(proxy)[0] == "ConnectionResetError"
        assert get(proxy)[0] == "ok"
