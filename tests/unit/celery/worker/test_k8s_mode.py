"""`step_mode: k8s_job`: the task message's K8s part and the config keys it adds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from dagster._core.errors import DagsterExecutionInterruptedError

from dagster_ext.celery.claims import ClaimHandedOver, open_claim_store
from dagster_ext.celery.k8s_steps import K8sModeError, K8sStepSpec, k8s_mode_config_schema
from dagster_ext.celery.messages import StepMessage
from dagster_ext.celery.run_worker.executor import executor_config_schema
from dagster_ext.celery.worker.k8s_mode import _earlier_creator, _hand_over_or_delete, _StepK8sJob
from dagster_ext.k8s.client import ConnectionSettings
from dagster_ext.k8s.status import DiagnosisSettings


def spec() -> K8sStepSpec:
    return K8sStepSpec(
        namespace="ns",
        manifest={"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "dagster-step-abc"}},
        connection=ConnectionSettings(load_incluster_config=False, kubeconfig_file="/k/config"),
        diagnosis=DiagnosisSettings(image_pull_grace_s=0.0),
        log_tail_lines=5,
    )


def test_spec_survives_the_json_task_message() -> None:
    payload = json.loads(json.dumps(spec().to_payload()))
    again = K8sStepSpec.from_payload(payload)
    assert again == spec() and again.name == "dagster-step-abc"


def test_a_message_without_a_k8s_job_is_a_clear_error() -> None:
    with pytest.raises(K8sModeError, match="no step K8s Job"):
        K8sStepSpec.from_payload({})


def test_k8s_keys_are_the_step_executors_and_do_not_shadow_celery_keys() -> None:
    from dagster_ext.k8s.step_executor.config import executor_config_schema as step_schema

    k8s_keys = set(k8s_mode_config_schema())
    assert {"step_k8s_config", "per_step_k8s_config", "job_namespace", "job_image"} <= k8s_keys
    assert k8s_keys <= set(step_schema())
    celery_only = {"broker", "backend", "include", "config_source", "retries", "step_mode", "default_queue"}
    assert not (k8s_keys & celery_only)
    assert k8s_keys <= set(executor_config_schema())


# -- after an interrupt: hand the running K8s Job over, or delete it --------------------------------
class _Store:
    def __init__(self, *, canceled: bool, log: list[dict[str, Any]] | None = None) -> None:
        self.canceled, self.log = canceled, log or []

    def is_canceled(self, run_id: str) -> bool:
        return self.canceled

    def claim_log(self, run_id: str) -> list[dict[str, Any]]:
        return self.log


class _Gateway:
    def __init__(self) -> None:
        self.deleted: list[str] = []

    def delete_k8s_job(self, *, namespace: str, name: str, propagation: str) -> bool:
        self.deleted.append(f"{namespace}/{name}")
        return True


def step_job(store: _Store, gateway: _Gateway, *, attempt: int = 0) -> _StepK8sJob:
    message = StepMessage(run_id="r1", step_key="slow", attempt=attempt, step_args={},
                          claims_url="redis://x", lease_s=3.0, step_mode="k8s_job")  # fmt: skip
    return _StepK8sJob(message, spec(), cast(Any, gateway), cast(Any, None), cast(Any, store),
                       cast(Any, None), "w2@host")  # fmt: skip


@pytest.mark.parametrize("err", [DagsterExecutionInterruptedError("lease lost"), KeyboardInterrupt()])
def test_an_interrupt_that_is_no_terminate_leaves_the_k8s_job_to_the_next_holder(err: BaseException) -> None:
    gateway = _Gateway()
    with pytest.raises(ClaimHandedOver, match="keeps running"):
        _hand_over_or_delete(step_job(_Store(canceled=False), gateway), err)
    assert gateway.deleted == []


@pytest.mark.parametrize(
    ("canceled", "err"),
    [(True, DagsterExecutionInterruptedError("terminated")), (False, SoftTimeLimitExceeded()),
     (False, K8sModeError("watch failed"))],
)  # fmt: skip
def test_terminate_time_limit_and_our_errors_delete_the_k8s_job(canceled: bool, err: BaseException) -> None:
    gateway = _Gateway()
    _hand_over_or_delete(step_job(_Store(canceled=canceled), gateway), err)
    assert gateway.deleted == ["ns/dagster-step-abc"]


def test_the_creator_of_a_k8s_job_is_read_per_step_attempt() -> None:
    log = [{"event": "k8s_job_created", "step_key": "slow", "attempt": 0, "worker": "w1@host"},
           {"event": "k8s_job_created", "step_key": "other", "attempt": 1, "worker": "w3@host"}]  # fmt: skip
    assert _earlier_creator(step_job(_Store(canceled=False, log=log), _Gateway())) == "w1@host"
    assert _earlier_creator(step_job(_Store(canceled=False, log=log), _Gateway(), attempt=1)) is None


def test_a_handed_over_step_keeps_its_claim_running_for_the_next_holder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finishing the claim would make the re-dispatched step's claim say `done` and drop it."""
    from dagster_ext.celery.worker import tasks

    def hand_over(message: StepMessage, *, worker: str, task_id: str | None) -> None:
        raise ClaimHandedOver("K8s Job ns/dagster-step-abc keeps running")

    monkeypatch.setattr(tasks, "_execute", hand_over)
    url = f"sqlite:///{tmp_path / 'claims.sqlite'}"
    message = StepMessage(run_id="r1", step_key="slow", attempt=0, step_args={}, claims_url=url,
                          lease_s=30.0, step_mode="k8s_job")  # fmt: skip
    assert tasks.run_step_task(message.to_payload(), worker="w1@host", task_id="t1") == "handed_over"
    store = open_claim_store(url)
    assert store.status(message.step).state == "running"
    assert [e["event"] for e in store.claim_log("r1")] == ["claimed", "handed_over"]


def test_terminate_deletes_the_step_k8s_job_from_the_run_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether or not a Celery worker still watches it: a lost one would leave it running."""
    from dagster_ext.celery.run_worker import k8s_messages

    gateway = _Gateway()
    monkeypatch.setattr(k8s_messages, "step_gateway", lambda settings: gateway)
    message = StepMessage(run_id="r1", step_key="slow", attempt=0, step_args={}, claims_url="redis://x",
                          lease_s=3.0, step_mode="k8s_job", k8s=spec().to_payload())  # fmt: skip
    k8s_messages.K8sMessageExtras({}).on_terminate(message)
    assert gateway.deleted == ["ns/dagster-step-abc"]
