"""Per-process cache of loaded code locations and Dagster instances in a warm worker.

A step's code is loaded once per worker process and code version, not once per step. The key is the
code pointer plus its version: for a file pointer the file's mtime and size (an edited file is
re-imported), plus the image the run was launched with and the run's repository load data.

The cached instance holds pooled database connections (`celery/pooling.py`) and captures compute logs
without spawning processes when there is nothing to redirect (`log_capture.py`).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, cast

from dagster import DagsterInstance

from dagster_ext.celery.pooling import hold_connections
from dagster_ext.celery.worker.log_capture import with_worker_log_capture
from dagster_ext.dagster_compat.definitions import (
    CodePointer,
    FileCodePointer,
    JobPythonOrigin,
    ReconstructableJob,
    ReconstructableRepository,
    RepositoryDefinition,
    RepositoryLoadData,
)
from dagster_ext.dagster_compat.runs import InstanceRef, serialize_value

MAX_LOCATIONS = 16


def pointer_version(pointer: CodePointer) -> str:
    if isinstance(pointer, FileCodePointer):
        path = pointer.python_file
        if pointer.working_directory and not os.path.isabs(path):
            path = os.path.join(pointer.working_directory, path)
        try:
            st = os.stat(path)
        except OSError:
            return "missing"
        return f"{st.st_mtime_ns}:{st.st_size}"
    return ""


class _WarmRepository(ReconstructableRepository):
    """A ReconstructableRepository whose definition comes from the process cache."""

    def get_definition(self) -> RepositoryDefinition:
        return CODE_CACHE.repository_definition(self)


class CodeCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._repos: dict[tuple[str, str, str], RepositoryDefinition] = {}
        self._instances: dict[str, DagsterInstance] = {}
        self._versions: dict[str, str] = {}  # pointer key -> last version loaded
        self.loads = 0  # how many times user code was (re)loaded in this process

    def instance(self, ref: InstanceRef) -> DagsterInstance:
        key = serialize_value(ref)
        with self._lock:
            found = self._instances.get(key)
            if found is None:
                found = DagsterInstance.from_ref(with_worker_log_capture(ref))
                hold_connections(found)
                self._instances[key] = found
            return found

    def recon_job(
        self,
        origin: JobPythonOrigin,
        load_data: RepositoryLoadData | None,
    ) -> ReconstructableJob:
        repo_origin = origin.repository_origin
        repo = _WarmRepository(
            pointer=repo_origin.code_pointer,
            container_image=repo_origin.container_image,
            executable_path=repo_origin.executable_path,
            entry_point=repo_origin.entry_point,
            container_context=repo_origin.container_context,
            repository_load_data=load_data,
        )
        return ReconstructableJob(repository=repo, job_name=origin.job_name)

    def repository_definition(self, repo: ReconstructableRepository) -> RepositoryDefinition:
        from dagster_ext.dagster_compat.definitions import reconstruct_repository_def_from_pointer

        pointer_key = serialize_value(cast(Any, repo.pointer))
        version = f"{pointer_version(repo.pointer)}|{repo.container_image or ''}"
        load_key = serialize_value(cast(Any, repo.repository_load_data))
        key = (pointer_key, version, load_key)
        with self._lock:
            found = self._repos.get(key)
            if found is not None:
                return found
            previous = self._versions.get(pointer_key)
            if previous is not None and previous != version:
                self._evict(pointer_key, repo.pointer)
            found = reconstruct_repository_def_from_pointer(repo.pointer, repo.repository_load_data)
            self.loads += 1
            if len(self._repos) >= MAX_LOCATIONS:
                self._repos.pop(next(iter(self._repos)))
            self._repos[key] = found
            self._versions[pointer_key] = version
            return found

    def _evict(self, pointer_key: str, pointer: CodePointer) -> None:
        for key in [k for k in self._repos if k[0] == pointer_key]:
            del self._repos[key]
        if isinstance(pointer, FileCodePointer):  # re-import the edited file, not the stale module
            target = os.path.abspath(pointer.python_file)
            for name, module in list(sys.modules.items()):
                if getattr(module, "__file__", None) and os.path.abspath(str(module.__file__)) == target:
                    del sys.modules[name]


CODE_CACHE = CodeCache()
