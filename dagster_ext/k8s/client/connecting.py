"""How to reach the API: in-cluster, a kubeconfig file, or the default loading rules.

The `ApiClient` is built lazily on first use, so constructing a launcher or executor never does
I/O (Dagster instantiates run launchers in processes that may never launch a run).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


def running_in_pod() -> bool:
    """True inside a pod with a ServiceAccount token: in-cluster config can work here."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and SERVICE_ACCOUNT_TOKEN.exists()


@dataclass(frozen=True)
class ConnectionSettings:
    load_incluster_config: bool = False
    kubeconfig_file: str | None = None
    context: str | None = None
    # A custom CA bundle for the API server's certificate (enterprise CA chains).
    ssl_ca_cert_file: str | None = None
    # urllib3 pool size: concurrent step-Job creates and watches share one client.
    connection_pool_maxsize: int = 32


class LazyApiClient:
    """Builds one `kubernetes.client.ApiClient` per settings object, on first use, thread-safely."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self._settings = settings
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def settings(self) -> ConnectionSettings:
        return self._settings

    def get(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = _build(self._settings)
        return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _build(settings: ConnectionSettings) -> Any:
    from kubernetes import client, config

    configuration = client.Configuration()
    if settings.load_incluster_config:
        config.load_incluster_config(client_configuration=configuration)
    else:
        config.load_kube_config(
            config_file=settings.kubeconfig_file,
            context=settings.context,
            client_configuration=configuration,
        )
    if settings.ssl_ca_cert_file:
        configuration.ssl_ca_cert = settings.ssl_ca_cert_file
    # Our request loop owns retries; urllib3's own retries would hide failures and double waits.
    configuration.retries = False
    configuration.connection_pool_maxsize = settings.connection_pool_maxsize
    return client.ApiClient(configuration)
