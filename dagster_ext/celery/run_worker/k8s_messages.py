"""`step_mode: k8s_job`, run worker side: each step's K8s Job rendered into its task message, and
deleted when the run is terminated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dagster_ext.celery.k8s_steps import K8sStepSpec, delete_quietly, step_gateway
from dagster_ext.celery.messages import MessageExtras, StepMessage
from dagster_ext.dagster_compat.step_delegating import StepHandlerContext
from dagster_ext.k8s.step_pods import (
    default_step_namespace,
    diagnosis_settings,
    render_step_pod,
    step_connection,
)


class K8sMessageExtras:
    """Run worker side: renders each step's K8s Job into its task message (`__call__`), and deletes
    it when the run is terminated (`on_terminate`)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._executor_config = dict(config)

    def __call__(self, ctx: StepHandlerContext, step_key: str) -> dict[str, Any]:
        launcher = ctx.instance.run_launcher
        rendered = render_step_pod(ctx, executor_config=self._executor_config, environ=os.environ)
        spec = K8sStepSpec(
            namespace=rendered.namespace or default_step_namespace(launcher, self._executor_config),
            manifest=rendered.manifest,
            connection=step_connection(self._executor_config, launcher),
            diagnosis=diagnosis_settings(self._executor_config),
            log_tail_lines=int(self._executor_config.get("log_tail_lines") or 25),
        )
        return {"k8s": spec.to_payload()}

    @staticmethod
    def on_terminate(message: StepMessage) -> None:
        """Delete the step K8s Job from the run worker too: when the Celery worker watching it was
        lost, nobody else would (the re-dispatched step is dropped once the run is canceled)."""
        if message.k8s:
            spec = K8sStepSpec.from_payload(message.k8s)
            delete_quietly(step_gateway(spec.connection), spec)


def k8s_message_extras(config: Mapping[str, Any]) -> MessageExtras:
    return K8sMessageExtras(config)
