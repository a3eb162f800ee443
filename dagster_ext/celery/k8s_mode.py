"""`step_mode: k8s_job` (under construction): the worker runs the step as a K8s Job."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import Field

from dagster_ext.celery.claims import Outcome
from dagster_ext.celery.messages import StepMessage
from dagster_ext.errors import DagsterExtError


class K8sModeError(DagsterExtError):
    """The step K8s Job could not be run."""


def k8s_mode_config_schema() -> dict[str, Field]:
    return {}


def k8s_message_extras(config: Mapping[str, Any]) -> Any:
    raise K8sModeError("step_mode: k8s_job is not implemented yet")


def execute_step_as_k8s_job(message: StepMessage, *, worker: str) -> Outcome:
    raise K8sModeError("step_mode: k8s_job is not implemented yet")
