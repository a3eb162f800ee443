"""Pure reading of K8s Job / pod / Event state: is it done, did it fail, exactly why, what to do.

Shared by the run launcher, the step executor, the Celery K8s-Job mode and `execute_k8s_job`, so a
failure is named the same way everywhere (and alerts keyed on the reason work for all of them).
No I/O: callers pass the objects they already hold (from a watch cache or a point read).
"""

from dagster_ext.k8s.status.capacity import NodeCapacity, short_of_capacity_only
from dagster_ext.k8s.status.diagnosis import diagnose, job_failure
from dagster_ext.k8s.status.model import Diagnosis, DiagnosisSettings, K8sJobState
from dagster_ext.k8s.status.reasons import (
    RAN_REASONS,
    SELF_REPORTED_REASONS,
    STUCK_REASONS,
    TAXONOMY,
    Category,
    FailureReason,
    ReasonInfo,
)

__all__ = [
    "RAN_REASONS",
    "SELF_REPORTED_REASONS",
    "STUCK_REASONS",
    "TAXONOMY",
    "Category",
    "Diagnosis",
    "DiagnosisSettings",
    "FailureReason",
    "K8sJobState",
    "NodeCapacity",
    "ReasonInfo",
    "diagnose",
    "job_failure",
    "short_of_capacity_only",
]
