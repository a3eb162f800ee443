"""Celery-queue executor: ready steps go to Celery queues; worker slots cap step parallelism
across all runs. (Under construction; see issue 6.)"""
