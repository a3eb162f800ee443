"""Dagster's private names for code locations, execution plans and executor plumbing (see the
package docstring for why they are gathered here). All of them load with `dagster` itself."""

from dagster._config import process_config
from dagster._config.field_utils import convert_potential_field
from dagster._core.code_pointer import CodePointer, FileCodePointer
from dagster._core.definitions.executor_definition import (
    get_step_dependency_config_field,
    get_tag_concurrency_limits_config,
    multiple_process_executor_requirements,
)
from dagster._core.definitions.job_definition import JobDefinition
from dagster._core.definitions.reconstruct import (
    ReconstructableJob,
    ReconstructableRepository,
    reconstruct_repository_def_from_pointer,
)
from dagster._core.definitions.repository_definition import RepositoryDefinition, RepositoryLoadData
from dagster._core.execution.api import create_execution_plan, execute_plan_iterator
from dagster._core.execution.context.system import PlanOrchestrationContext
from dagster._core.execution.context_creation_job import create_context_free_log_manager
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.execution.plan.state import KnownExecutionState
from dagster._core.execution.retries import RetryMode, get_retries_config
from dagster._core.executor.base import Executor
from dagster._core.executor.init import InitExecutorContext
from dagster._core.origin import JobPythonOrigin
from dagster._core.system_config.objects import ResolvedRunConfig
from dagster._core.workspace.autodiscovery import (
    loadable_targets_from_python_file,
    loadable_targets_from_python_module,
)

__all__ = [
    "CodePointer",
    "ExecutionPlan",
    "Executor",
    "FileCodePointer",
    "InitExecutorContext",
    "JobDefinition",
    "JobPythonOrigin",
    "KnownExecutionState",
    "PlanOrchestrationContext",
    "ReconstructableJob",
    "ReconstructableRepository",
    "RepositoryDefinition",
    "RepositoryLoadData",
    "ResolvedRunConfig",
    "RetryMode",
    "convert_potential_field",
    "create_context_free_log_manager",
    "create_execution_plan",
    "execute_plan_iterator",
    "get_retries_config",
    "get_step_dependency_config_field",
    "get_tag_concurrency_limits_config",
    "loadable_targets_from_python_file",
    "loadable_targets_from_python_module",
    "multiple_process_executor_requirements",
    "process_config",
    "reconstruct_repository_def_from_pointer",
]
