"""`PipesK8sClient` end to end: a Pipes asset materialized from a K8s Job on the real node, and the
failures that end the call with their reason instead of a hang.

The happy path runs the user-code image (it has `dagster-pipes`): the materialization, its asset
check and the pod's log lines must reach the run. The failures use busybox: they never get as far
as the Pipes session in the pod.
"""

# No `from __future__ import annotations`: Dagster checks the asset context annotation at runtime.

from pathlib import Path
from typing import Any

import pytest
from dagster import AssetExecutionContext, Definitions, asset, define_asset_job

from dagster_ext.k8s import PipesK8sClient
from tests.integration.k8s_job.harness import (
    assert_created_k8s_job_deleted,
    dagster_instance,
    interrupt_and_assert_k8s_job_deleted,
    log_messages,
    run_in_background,
    step_failure_text,
    wait_for_running_pod,
)
from tests.integration.k8s_job.pipes_assets import pipes_definitions

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
GRACE = {"image_pull": 0, "unschedulable": 2, "container_config": 2}
RUN_GUARD_S = 200  # a hang guard, not a speed bound


def _client(k8s_cluster: Any) -> PipesK8sClient:
    return PipesK8sClient(load_incluster_config=False, kubeconfig_file=str(k8s_cluster.kubeconfig_path))


def _run(
    definitions: Definitions, job_name: str, namespace: str, k8s_cluster: Any, home: Path
) -> tuple[Any, list[str]]:
    with dagster_instance(namespace, k8s_cluster.kubeconfig_path, home) as instance:
        dagster_job = definitions.resolve_job_def(job_name)
        result = run_in_background(dagster_job, instance, {}).join(RUN_GUARD_S)
        return result, log_messages(instance)


def test_an_existing_pipes_asset_materializes_with_its_metadata_check_and_logs(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    definitions = pipes_definitions(_client(k8s_cluster))
    result, messages = _run(definitions, "pipes_total_job", k8s_namespace, k8s_cluster, tmp_path)
    assert result.success, messages
    (materialization,) = result.asset_materializations_for_node("pipes_total")
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    assert metadata["total"] == 55
    assert metadata["source"] == "k8s pod"
    assert metadata["env"] == "hello/tag"  # run(env=...) and the asset's dagster-k8s/config tag
    assert metadata["long"] == "x" * 40_000  # a message line the runtime split is read whole
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "total_is_positive" and check.passed
    assert any("counting for asset pipes_total" in m for m in messages), messages  # pipes.log
    assert "a plain line from the pod" in messages, messages  # plain output, streamed
    assert any(m.startswith("Created K8s Job ") for m in messages), messages
    assert not any("__dagster_pipes_version" in m for m in messages), messages  # messages are not echoed
    assert_created_k8s_job_deleted(k8s_cluster, k8s_namespace, messages)  # as dagster-k8s deletes its pod


def _failing(**run_keys: Any) -> Definitions:
    @asset
    def failing_pipes_asset(context: AssetExecutionContext, pipes_k8s_client: PipesK8sClient):
        return pipes_k8s_client.run(context=context, failure_grace_seconds=GRACE, **run_keys).get_results()

    return Definitions(
        assets=[failing_pipes_asset],
        jobs=[define_asset_job("failing", selection=[failing_pipes_asset])],
    )


BUSYBOX_ECHO = {"image": "busybox", "command": ["sh", "-c", "echo started"]}


@pytest.mark.parametrize(
    ("run_keys", "words"),
    [
        pytest.param(
            {"image": "registry.invalid/none/such:1", "command": ["true"]}, ("ErrImagePull",), id="image_pull"
        ),
        pytest.param(
            {
                **BUSYBOX_ECHO,
                "base_pod_spec": {
                    "init_containers": [
                        {"name": "prepare", "image": "busybox", "command": ["sh", "-c", "exit 3"]}
                    ]
                },
            },
            ("init container 'prepare' exited with code 3",),
            id="init_container_failure",
        ),
        pytest.param(
            {
                "image": "busybox",
                "command": ["sh", "-c", "head -c 300m /dev/zero | tail"],
                "base_pod_spec": {
                    "containers": [
                        {"resources": {"requests": {"memory": "16Mi"}, "limits": {"memory": "32Mi"}}}
                    ]
                },
            },
            ("OOMKilled",),
            id="oom_killed",
        ),
        pytest.param(
            {"image": "busybox", "command": ["sh", "-c", "echo last words; exit 7"]},
            ("NonZeroExit", "exited with code 7", "last words"),
            id="exit_code",
        ),
        pytest.param(
            {**BUSYBOX_ECHO, "base_pod_spec": {"node_selector": {"no-such-label": "x"}}},
            ("Unschedulable", "node affinity/selector"),
            id="unschedulable",
        ),
    ],
)
def test_a_failed_pipes_pod_ends_the_step_with_its_reason(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path, run_keys: dict[str, Any], words: tuple[str, ...]
) -> None:
    definitions = _failing(**run_keys).with_resources({"pipes_k8s_client": _client(k8s_cluster)})
    result, messages = _run(definitions, "failing", k8s_namespace, k8s_cluster, tmp_path)
    assert not result.success
    text = step_failure_text(result)
    for word in words:
        assert word in text, text
    assert_created_k8s_job_deleted(k8s_cluster, k8s_namespace, messages)


def test_a_pipes_pod_deleted_by_someone_else_ends_the_step_instead_of_hanging(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    definitions = _failing(image="busybox", command=["sleep", "120"]).with_resources(
        {"pipes_k8s_client": _client(k8s_cluster)}
    )
    with dagster_instance(k8s_namespace, k8s_cluster.kubeconfig_path, tmp_path) as instance:
        run = run_in_background(definitions.resolve_job_def("failing"), instance, {})
        pod = wait_for_running_pod(k8s_cluster, k8s_namespace, timeout_s=120)
        k8s_cluster.core_v1.delete_namespaced_pod(pod.metadata.name, k8s_namespace, grace_period_seconds=0)
        result = run.join(RUN_GUARD_S)
        messages = log_messages(instance)
    assert not result.success
    text = step_failure_text(result)
    assert "PodDeleted" in text, text
    assert_created_k8s_job_deleted(k8s_cluster, k8s_namespace, messages)


def test_pod_wait_timeout_ends_the_step_and_deletes_the_running_k8s_job(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    definitions = _failing(image="busybox", command=["sleep", "300"], pod_wait_timeout=5).with_resources(
        {"pipes_k8s_client": _client(k8s_cluster)}
    )
    result, messages = _run(definitions, "failing", k8s_namespace, k8s_cluster, tmp_path)
    assert not result.success
    text = step_failure_text(result)
    assert "did not finish within timeout=5s" in text, text
    assert_created_k8s_job_deleted(k8s_cluster, k8s_namespace, messages)


def test_interrupting_the_step_deletes_the_running_pipes_k8s_job(
    k8s_cluster: Any, k8s_namespace: str, tmp_path: Path
) -> None:
    script = Path(__file__).with_name("interrupted_pipes_run.py")
    interrupt_and_assert_k8s_job_deleted(k8s_cluster, k8s_namespace, script, tmp_path)
