"""Celery-queue executor: ready steps go to Celery queues; worker slots cap step parallelism
across all runs. See docs/celery.md.
"""

from dagster_ext.celery.run_worker.executor import celery_queue_executor
from dagster_ext.celery.run_worker.routing import QUEUE_TAG, RUN_PRIORITY_TAG, STEP_PRIORITY_TAG

__all__ = ["QUEUE_TAG", "RUN_PRIORITY_TAG", "STEP_PRIORITY_TAG", "celery_queue_executor"]
