"""Dagster's private names for runs, instances, events, errors, serialization and argument checks
(see the package docstring for why they are gathered here). All of them load with `dagster` itself."""

from dagster import _check as check
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.events import DagsterEvent, DagsterEventType, EngineEventData
from dagster._core.instance import DagsterInstance
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus
from dagster._core.storage.tags import DOCKER_IMAGE_TAG
from dagster._serdes import (
    ConfigurableClass,
    ConfigurableClassData,
    pack_value,
    serialize_value,
    unpack_value,
)

__all__ = [
    "DOCKER_IMAGE_TAG",
    "ConfigurableClass",
    "ConfigurableClassData",
    "DagsterEvent",
    "DagsterEventType",
    "DagsterExecutionInterruptedError",
    "DagsterInstance",
    "DagsterRun",
    "DagsterRunStatus",
    "EngineEventData",
    "InstanceRef",
    "check",
    "pack_value",
    "serialize_value",
    "unpack_value",
]
