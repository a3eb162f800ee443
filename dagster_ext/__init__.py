"""dagster-ext: run Dagster on Kubernetes and Celery.

Entry points live in sub-packages so that importing `dagster_ext` stays cheap:
`dagster_ext.k8s` (run launcher, step executor, K8s Job helpers), `dagster_ext.celery`
(Celery-queue executor) and `dagster_ext.testing` (local cluster and pytest fixtures).
"""

__version__ = "0.1.0.dev0"
