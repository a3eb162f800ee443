"""The K8s step executor: one K8s Job per op/asset, pod spec inherited from the run pod."""

from dagster_ext.k8s.step_executor.executor import k8s_job_executor

__all__ = ["k8s_job_executor"]
