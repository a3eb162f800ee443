"""`execute_k8s_job` log streaming across a kube-apiserver restart: the follow request breaks with
the API server, is reopened with backoff once it is back, and resumes from the last line's
timestamp, so no line is lost or passed on twice. Bounds are hang guards only."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from dagster import job

from dagster_ext.k8s import k8s_job_op
from tests.integration.faults.test_apiserver_restart import _local
from tests.integration.k8s_job.harness import (
    dagster_instance,
    log_messages,
    op_config,
    run_in_background,
    step_failure_text,
)
from tests.integration.k8s_job.test_k8s_job_op import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

LINES = 200  # one every 0.1 s: the stream is still open when the API server goes away


@job
def streamed_work() -> None:
    k8s_job_op.alias("stream")()


def test_log_stream_survives_an_apiserver_restart_with_no_line_lost_or_repeated(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dagster_ext")  # the log reader's reconnects, on failure
    local = _local(k8s_cluster)
    script = f"i=0; while [ $i -lt {LINES} ]; do echo line-$i; i=$((i+1)); sleep 0.1; done"
    config = op_config(k8s_cluster.kubeconfig_path, command=["/bin/sh", "-c", script])
    with dagster_instance(k8s_namespace, k8s_cluster.kubeconfig_path, tmp_path) as instance:
        run = run_in_background(streamed_work, instance, {"ops": {"stream": {"config": config}}})
        wait_for(lambda: "line-5" in log_messages(instance), timeout_s=180, what="the first lines")
        assert f"line-{LINES - 1}" not in log_messages(instance), "the pod ended before the restart"
        local.restart_apiserver(down_s=5.0)
        result = run.join(timeout_s=240)
        assert result.success, step_failure_text(result) if not result.success else ""
        lines = [m for m in log_messages(instance) if m.startswith("line-")]
    assert lines == [f"line-{n}" for n in range(LINES)], [
        n for n in range(LINES) if lines.count(f"line-{n}") != 1
    ]
