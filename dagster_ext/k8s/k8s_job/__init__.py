"""K8s Jobs started from inside an op: `execute_k8s_job` and `k8s_job_op` (docs/k8s-job.md), and
`PipesK8sClient` for Dagster Pipes (docs/pipes.md).

An adapter over the pod-spec model (`rendering` → `dagster_ext.k8s.spec`), the gateway and the
watch-backed `K8sJobTracker` (`running`); it owns no Kubernetes I/O of its own.
"""

from dagster_ext.k8s.k8s_job.config import K8sJobCall, k8s_job_op_config_schema, parse_k8s_job_call
from dagster_ext.k8s.k8s_job.ops import execute_k8s_job, k8s_job_op
from dagster_ext.k8s.k8s_job.pipes import PipesK8sClient
from dagster_ext.k8s.k8s_job.pipes_messages import PipesK8sPodLogsMessageReader
from dagster_ext.k8s.k8s_job.rendering import StepOrigin, render_k8s_job_call
from dagster_ext.k8s.k8s_job.running import K8sJobError, K8sJobTimeout

__all__ = [
    "K8sJobCall",
    "K8sJobError",
    "K8sJobTimeout",
    "PipesK8sClient",
    "PipesK8sPodLogsMessageReader",
    "StepOrigin",
    "execute_k8s_job",
    "k8s_job_op",
    "k8s_job_op_config_schema",
    "parse_k8s_job_call",
    "render_k8s_job_call",
]
