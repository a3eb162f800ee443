"""The Celery worker's side: the task (claim, run, finish), running a step in the worker or as a
K8s Job, the per-process caches and log capture, the worker's registration, and the hand-off
tuning that `configure_worker` applies."""
