"""Per-process cache of what every step of a run shares, so a warm worker works it out once per run.

A profile of a warm worker (bench/celery_profile.py) showed each step re-reading and deserialising
the run's whole execution plan snapshot (for its repository load data) and re-validating the run
config against the job, both proportional to the size of the job, not of the step. Both are safe to
keep:

- an execution plan snapshot is content-addressed (its id is a hash of it), so an id always names
  the same repository load data;
- a run's config never changes, and the resolution is keyed by run id *and* the job definition
  object it was resolved against: a reloaded code location (edited file, other image) yields a new
  job definition, so new code is never paired with a stale resolution.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from dagster import DagsterInstance

from dagster_ext.dagster_compat.definitions import (
    ExecutionPlan,
    JobDefinition,
    KnownExecutionState,
    ReconstructableJob,
    RepositoryLoadData,
    ResolvedRunConfig,
)
from dagster_ext.dagster_compat.runs import DagsterRun

MAX_ENTRIES = 64  # runs (and snapshots) remembered per worker process


class _Lru(OrderedDict[str, Any]):
    def remember(self, key: str, value: Any) -> Any:
        self[key] = value
        self.move_to_end(key)
        while len(self) > MAX_ENTRIES:
            self.popitem(last=False)
        return value


class RunCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._load_data = _Lru()
        self._configs = _Lru()
        self.hits = 0  # for tests: how often a step reused a run's resolution

    def repository_load_data(self, instance: DagsterInstance, run: DagsterRun) -> RepositoryLoadData | None:
        snapshot_id = run.execution_plan_snapshot_id
        if not run.has_repository_load_data or not snapshot_id:
            return None
        with self._lock:
            if snapshot_id in self._load_data:
                return self._load_data[snapshot_id]  # type: ignore[no-any-return]
        found = instance.get_execution_plan_snapshot(snapshot_id).repository_load_data
        with self._lock:
            return self._load_data.remember(snapshot_id, found)  # type: ignore[no-any-return]

    def resolved_run_config(
        self, run_id: str, job_def: JobDefinition, run_config: Mapping[str, Any]
    ) -> ResolvedRunConfig:
        with self._lock:
            cached = self._configs.get(run_id)
            if cached is not None and cached[0] is job_def:
                self.hits += 1
                return cached[1]  # type: ignore[no-any-return]
        resolved = ResolvedRunConfig.build(job_def, run_config)
        with self._lock:
            self._configs.remember(run_id, (job_def, resolved))
        return resolved

    def execution_plan(
        self,
        recon_job: ReconstructableJob,
        run: DagsterRun,
        *,
        step_keys: list[str],
        known_state: KnownExecutionState | None,
        load_data: RepositoryLoadData | None,
    ) -> ExecutionPlan:
        """What `create_execution_plan(recon_job, run.run_config, ...)` builds, with the run config
        resolved once per run (the job definition comes from the repository's load data)."""
        return self.execution_plan_for(
            recon_job.get_definition(),
            run.run_id,
            run.run_config,
            step_keys=step_keys,
            known_state=known_state,
            load_data=load_data,
        )

    def execution_plan_for(
        self,
        job_def: JobDefinition,
        run_id: str,
        run_config: Mapping[str, Any],
        *,
        step_keys: list[str],
        known_state: KnownExecutionState | None,
        load_data: RepositoryLoadData | None = None,
    ) -> ExecutionPlan:
        return ExecutionPlan.build(
            job_def,
            self.resolved_run_config(run_id, job_def, run_config),
            step_keys_to_execute=step_keys,
            known_state=known_state,
            repository_load_data=load_data,
        )


RUN_CACHE = RunCache()
