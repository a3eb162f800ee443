"""`step_mode: k8s_job`, the part both sides share: the config keys it adds, the step K8s Job as
the task message carries it (`K8sStepSpec`), one gateway per process and deleting a step K8s Job
(the worker when a step is stopped, the run worker when its run is terminated).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dagster import Field

from dagster_ext.errors import DagsterExtError
from dagster_ext.k8s.client import ConnectionSettings, K8sGateway
from dagster_ext.k8s.config_schema import step_pod_fields
from dagster_ext.k8s.status import DiagnosisSettings

log = logging.getLogger(__name__)


class K8sModeError(DagsterExtError):
    """The step K8s Job could not be run, or it failed."""


def k8s_mode_config_schema() -> dict[str, Field]:
    """The K8s step executor's pod keys (same names, same meaning); used when `step_mode: k8s_job`."""
    return step_pod_fields()


@dataclass(frozen=True)
class K8sStepSpec:
    """What the Celery worker needs to run one step K8s Job (the message's `k8s` field)."""

    namespace: str
    manifest: dict[str, Any]
    connection: ConnectionSettings
    diagnosis: DiagnosisSettings
    log_tail_lines: int = 25

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    def to_payload(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_payload(payload: Mapping[str, Any]) -> K8sStepSpec:
        if not payload.get("manifest"):
            raise K8sModeError("the task message carries no step K8s Job (sent by an older run worker?)")
        return K8sStepSpec(
            namespace=str(payload["namespace"]),
            manifest=dict(payload["manifest"]),
            connection=ConnectionSettings(**payload["connection"]),
            diagnosis=DiagnosisSettings(**payload["diagnosis"]),
            log_tail_lines=int(payload.get("log_tail_lines", 25)),
        )


_gateways: dict[tuple[int, ConnectionSettings], K8sGateway] = {}
_gateways_lock = threading.Lock()


def step_gateway(settings: ConnectionSettings) -> K8sGateway:
    """One gateway (one connection pool) per worker process and connection settings."""
    key = (os.getpid(), settings)
    with _gateways_lock:
        gateway = _gateways.get(key)
        if gateway is None:
            gateway = _gateways[key] = K8sGateway(settings)
        return gateway


def delete_quietly(gateway: K8sGateway, spec: K8sStepSpec) -> None:
    """Delete the step K8s Job in the background; a failure is logged, never raised (best effort)."""
    try:
        if gateway.delete_k8s_job(namespace=spec.namespace, name=spec.name, propagation="Background"):
            log.info("deleted step K8s Job %s/%s", spec.namespace, spec.name)
    except Exception:
        log.warning("could not delete step K8s Job %s/%s", spec.namespace, spec.name, exc_info=True)
