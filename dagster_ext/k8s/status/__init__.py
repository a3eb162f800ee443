"""Pure reading of K8s Job / pod / Event state: is it done, did it fail, and exactly why.

Shared by the run launcher, the step executor, the Celery K8s-Job mode and `execute_k8s_job`, so a
failure is named the same way everywhere. No I/O: callers pass the objects they already hold
(from a watch cache or a point read).
"""

from dagster_ext.k8s.status.diagnosis import (
    Diagnosis,
    DiagnosisSettings,
    FailureReason,
    K8sJobState,
    diagnose,
)

__all__ = ["Diagnosis", "DiagnosisSettings", "FailureReason", "K8sJobState", "diagnose"]
