"""A diagnosis as Dagster event metadata: the same keys from every adapter, so one alert rule
(on `reason`, `category` or `retryable`) covers runs, steps, Celery K8s-Job steps and K8s Jobs
started from ops."""

from __future__ import annotations

from dagster import MetadataValue

from dagster_ext.k8s.status import Diagnosis


def failure_metadata(found: Diagnosis, *, k8s_job: str, namespace: str) -> dict[str, MetadataValue]:
    values = {**found.metadata(), "K8s Job": k8s_job, "Kubernetes namespace": namespace}
    return {key: MetadataValue.text(value) for key, value in values.items()}
