"""The external K8s Job of one `execute_k8s_job` call, rendered from the step it runs in.

Pods started for a step inherit the step's pod configuration, so that an external K8s Job runs
with the node selector, service account, env and volumes its step has. So the layers are the
run pod's (run launcher, code location, job-level `dagster-k8s/config` tag), the calling op's
`dagster-k8s/config` tag, then the call's own keys (`build_external_layers`). dagster-k8s gives
the external Job only the launcher and code-location config. `StepOrigin` is read from the Dagster
context once; everything after it is a pure function of plain data (unit-tested without Dagster).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from dagster_ext.k8s.k8s_job.config import K8sJobCall
from dagster_ext.k8s.run_context import (
    apply_launcher_allowlists,
    code_location_context,
    code_location_name,
    launcher_config_of,
)
from dagster_ext.k8s.spec import (
    K8S_JOB_CALL,
    Layer,
    RenderedK8sJob,
    build_external_layers,
    merge_layers,
    render_external_k8s_job,
)
from dagster_ext.k8s.spec.owners import POD_NAMESPACE_ENV, pod_owner_reference
from dagster_ext.k8s.step_pods import k8s_step_executor_config

DEFAULT_NAMESPACE: Final = "default"


@dataclass(frozen=True)
class StepOrigin:
    """What the calling step contributes: identity and the config layers its pod was built from."""

    run_id: str
    dagster_job: str
    step_key: str
    attempt: int = 0
    launcher_config: Mapping[str, Any] | None = None
    container_context: Mapping[str, Any] | str | None = None
    run_tags: Mapping[str, Any] = field(default_factory=dict)
    op_tags: Mapping[str, Any] = field(default_factory=dict)
    code_location: str | None = None
    executor_config: Mapping[str, Any] | None = None  # the K8s step executor's, when under it
    op_name: str | None = None


def step_origin(context: Any) -> StepOrigin:
    """Read a Dagster op (or asset) execution context; no Kubernetes I/O."""
    context = getattr(context, "op_execution_context", context)
    step_context = context.get_step_execution_context()
    run = context.dagster_run
    container_context, _image = code_location_context(run)
    return StepOrigin(
        run_id=run.run_id,
        dagster_job=run.job_name,
        step_key=step_context.step.key,
        attempt=int(context.retry_number or 0),
        launcher_config=launcher_config_of(context.instance.run_launcher),
        container_context=container_context,
        run_tags=dict(run.tags),
        op_tags=dict(step_context.step.tags or {}),
        code_location=code_location_name(run),
        executor_config=k8s_step_executor_config(step_context),
        op_name=step_context.step.op_name,
    )


def render_k8s_job_call(
    call: K8sJobCall, origin: StepOrigin, *, sequence: int, environ: Mapping[str, str]
) -> RenderedK8sJob:
    """The K8s Job manifest (with namespace and, inside one of our pods, an owner reference).

    Raises `ConfigError` for inherited or call config that cannot make a valid K8s Job.
    """
    layers = build_external_layers(
        launcher_config=origin.launcher_config,
        container_context=origin.container_context,
        run_tags=origin.run_tags,
        step_tags=origin.op_tags,
        call_config=call.shorthand,
        call_namespace=call.namespace,
        inherit_run_tags=call.inherit_run_tags,
        inherit_step_tags=call.inherit_op_tags,
        executor_config=origin.executor_config,
        op_name=origin.op_name,
        environ=environ,
    )
    layers.append(Layer(K8S_JOB_CALL, call.sections))
    merged = merge_layers(apply_launcher_allowlists(layers, origin.launcher_config))
    rendered = render_external_k8s_job(
        merged,
        run_id=origin.run_id,
        dagster_job=origin.dagster_job,
        step_key=origin.step_key,
        code_location=origin.code_location,
        attempt=origin.attempt,
        sequence=sequence,
        name=_custom_name(call.k8s_job_name, origin.attempt),
        ttl_seconds_after_finished=call.ttl_seconds_after_finished,
    )
    namespace = rendered.namespace or environ.get(POD_NAMESPACE_ENV) or DEFAULT_NAMESPACE
    metadata = rendered.manifest["metadata"]
    metadata["namespace"] = namespace
    owner = pod_owner_reference(environ, namespace=namespace) if call.enable_owner_references else None
    if owner:
        metadata["ownerReferences"] = [owner]
    return RenderedK8sJob(rendered.name, namespace, rendered.manifest, rendered.provenance)


def _custom_name(name: str | None, attempt: int) -> str | None:
    """dagster-k8s appends `-<retry number>` to a given `k8s_job_name` too."""
    if name is None or attempt == 0:
        return name
    suffix = f"-{attempt}"
    return name[: 63 - len(suffix)].rstrip("-") + suffix


class CallSequence:
    """Numbers the calls of one step attempt in this process (0, 1, ...), so a step that starts
    several K8s Jobs gets distinct names; dagster-k8s reuses one name and fails with 409."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, int]] = Counter()
        self._lock = threading.Lock()

    def next(self, origin: StepOrigin) -> int:
        key = (origin.run_id, origin.step_key, origin.attempt)
        with self._lock:
            number = self._counts[key]
            self._counts[key] += 1
        return number


CALL_SEQUENCE: Final = CallSequence()
