"""Load a code location the way `dagster api grpc -f/-m` does, and read what the pod-spec
model needs from it: the job's tags and, per step, its key, op name and tags.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dagster import AssetKey, JobDefinition, RepositoryDefinition

from dagster_ext.errors import ConfigError


@dataclass(frozen=True)
class StepInfo:
    key: str
    op_name: str
    tags: Mapping[str, str]
    asset_keys: tuple[str, ...] = ()  # user-string form, e.g. `examples/generated_numbers`

    def matches(self, selector: str) -> bool:
        """`--op` accepts a step key, an op name or an asset key path."""
        asset_key = AssetKey.from_user_string(selector).to_user_string()
        return selector in (self.key, self.op_name) or asset_key in self.asset_keys


@dataclass(frozen=True)
class JobInfo:
    name: str
    tags: Mapping[str, str]
    steps: tuple[StepInfo, ...]


def load_repository(
    *,
    python_file: str | None,
    module_name: str | None,
    attribute: str | None,
    working_directory: str | None,
) -> RepositoryDefinition:
    """The code location's definitions; `attribute` may be omitted when there is one target."""
    from dagster_ext.dagster_compat.definitions import (
        ReconstructableRepository,
        loadable_targets_from_python_file,
        loadable_targets_from_python_module,
    )

    if bool(python_file) == bool(module_name):
        raise ConfigError("give exactly one of -f/--python-file and -m/--module-name")
    working_directory = working_directory or os.getcwd()
    if attribute is None:
        targets = (
            loadable_targets_from_python_file(python_file, working_directory)
            if python_file
            else loadable_targets_from_python_module(module_name or "", working_directory)
        )
        if len(targets) != 1:
            names = ", ".join(target.attribute for target in targets) or "none"
            raise ConfigError(f"found {len(targets)} loadable definitions ({names}); pick one with -a")
        attribute = targets[0].attribute
    if python_file:
        recon = ReconstructableRepository.for_file(python_file, attribute, working_directory)
    else:
        recon = ReconstructableRepository.for_module(module_name or "", attribute, working_directory)
    return recon.get_definition()


def job_info(repository: RepositoryDefinition, job_name: str) -> JobInfo:
    from dagster_ext.dagster_compat.definitions import create_execution_plan

    if not repository.has_job(job_name):
        jobs = ", ".join(name for name in repository.job_names if not name.startswith("__"))
        raise ConfigError(f"no job {job_name!r} in the code location; jobs: {jobs}", path="--job")
    job: JobDefinition = repository.get_job(job_name)
    plan = create_execution_plan(job)
    steps = tuple(
        # op name as dagster-k8s keys per_step_k8s_config: the step's node handle name
        StepInfo(step.key, step.node_handle.name, dict(step.tags or {}), _asset_keys(job, step.node_handle))
        for step in plan.steps
    )
    return JobInfo(job.name, dict(job.run_tags), steps)


def _asset_keys(job: JobDefinition, node_handle: object) -> tuple[str, ...]:
    try:
        keys = job.asset_layer.get_selected_entity_keys_for_node(node_handle)  # type: ignore[arg-type]
    except Exception:  # op jobs have no asset layer entries for their nodes
        return ()
    return tuple(key.to_user_string() for key in keys if isinstance(key, AssetKey))


def select_steps(job: JobInfo, selectors: Sequence[str]) -> list[StepInfo]:
    if not selectors:
        return list(job.steps)
    selected = [step for step in job.steps if any(step.matches(selector) for selector in selectors)]
    unmatched = [selector for selector in selectors if not any(step.matches(selector) for step in job.steps)]
    if unmatched:
        available = ", ".join(step.key for step in job.steps)
        raise ConfigError(f"no step matches {', '.join(unmatched)}; steps: {available}", path="--op")
    return selected
