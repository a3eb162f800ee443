"""Property tests of the precedence rules: a cause always beats the consequences it produces."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_ext.k8s.status import FailureReason, K8sJobState, diagnose

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
EARLIER = "2026-03-10T11:50:00Z"
names = st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True)
exit_codes = st.sampled_from([0, 1, 2, 42, 125, 126, 127, 128, 137, 139, 143, 255])
term_reasons = st.sampled_from(["Error", "Completed", "OOMKilled", "ContainerStatusUnknown", "StartError"])
KILL_CODES = st.sampled_from([137, 143])
DISRUPTIONS = {
    "PreemptionByScheduler": FailureReason.PREEMPTED,
    "DeletionByTaintManager": FailureReason.TAINT_EVICTED,
    "EvictionByEvictionAPI": FailureReason.EVICTED_BY_API,
    "DeletionByPodGC": FailureReason.NODE_LOST,
}


def terminated(code: int, reason: str = "Error") -> dict[str, Any]:
    return {"terminated": {"exitCode": code, "reason": reason}}


def k8s_job(*, backoff: int = 0, conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "j"},
        "spec": {"backoffLimit": backoff},
        "status": {"conditions": conditions or []},
    }


def pod(
    *,
    main: dict[str, Any],
    sidecars: dict[str, dict[str, Any]] | None = None,
    phase: str = "Failed",
    deleting: bool = False,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    sidecars = sidecars or {}
    meta: dict[str, Any] = {"name": "j-x", "creationTimestamp": EARLIER}
    if deleting:
        meta["deletionTimestamp"] = EARLIER
    return {
        "metadata": meta,
        "spec": {
            "nodeName": "n1",
            "containers": [{"name": "main", "image": "i"}],
            "initContainers": [{"name": s, "image": "i", "restartPolicy": "Always"} for s in sidecars],
        },
        "status": {
            "phase": phase,
            "startTime": EARLIER,
            "conditions": conditions or [],
            "containerStatuses": [{"name": "main", "state": main}],
            "initContainerStatuses": [{"name": s, "state": state} for s, state in sidecars.items()],
        },
    }


sidecar_states = st.dictionaries(
    names.filter(lambda n: n != "main"),
    st.builds(terminated, exit_codes, term_reasons) | st.just({"running": {}}),
    max_size=3,
)


@settings(max_examples=150, deadline=None)
@given(
    sidecars=sidecar_states, phase=st.sampled_from(["Succeeded", "Failed", "Running"]), deleting=st.booleans()
)
def test_a_succeeded_main_container_is_never_blamed_on_a_sidecar(
    sidecars: dict[str, dict[str, Any]], phase: str, deleting: bool
) -> None:
    found = diagnose(
        k8s_job=k8s_job(),
        pods=[pod(main=terminated(0, "Completed"), sidecars=sidecars, phase=phase, deleting=deleting)],
        now=NOW,
    )
    assert found.container not in sidecars
    assert found.state is K8sJobState.SUCCEEDED


@settings(max_examples=150, deadline=None)
@given(
    sidecars=sidecar_states,
    code=exit_codes.filter(lambda c: c != 0),
    phase=st.sampled_from(["Failed", "Running"]),
)
def test_a_failed_main_container_is_blamed_before_any_sidecar(
    sidecars: dict[str, dict[str, Any]], code: int, phase: str
) -> None:
    found = diagnose(
        k8s_job=k8s_job(), pods=[pod(main=terminated(code), sidecars=sidecars, phase=phase)], now=NOW
    )
    assert found.failed and found.container == "main" and found.exit_code == code


@settings(max_examples=100, deadline=None)
@given(code=KILL_CODES, sidecars=sidecar_states, phase=st.sampled_from(["Failed", "Running"]))
def test_deletion_beats_the_kill_exit_codes(
    code: int, sidecars: dict[str, dict[str, Any]], phase: str
) -> None:
    found = diagnose(
        k8s_job=k8s_job(),
        pods=[pod(main=terminated(code), sidecars=sidecars, phase=phase, deleting=True)],
        now=NOW,
    )
    assert found.reason is FailureReason.POD_DELETED and found.retryable
    assert "deleted" in found.headline() and f"exit code {code}" in found.headline()


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(["Failed", "FailureTarget"]),
    mains=st.lists(st.builds(terminated, exit_codes, term_reasons), min_size=0, max_size=3),
    deleting=st.booleans(),
)
def test_deadline_exceeded_beats_the_exit_code_of_the_pods_it_killed(
    kind: str, mains: list[dict[str, Any]], deleting: bool
) -> None:
    cond = {"type": kind, "status": "True", "reason": "DeadlineExceeded", "message": "too long"}
    found = diagnose(
        k8s_job=k8s_job(conditions=[cond]),
        pods=[pod(main=state, deleting=deleting) for state in mains],
        now=NOW,
    )
    assert found.reason is FailureReason.DEADLINE_EXCEEDED and found.exit_code is None


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(sorted(DISRUPTIONS)),
    main=st.builds(terminated, exit_codes, term_reasons) | st.just({"running": {}}),
    deleting=st.booleans(),
    backoff_exceeded=st.booleans(),
)
def test_a_disruption_target_beats_container_exit_codes(
    kind: str, main: dict[str, Any], deleting: bool, backoff_exceeded: bool
) -> None:
    cond = {"type": "DisruptionTarget", "status": "True", "reason": kind, "message": "m"}
    failed = (
        [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}] if backoff_exceeded else []
    )
    found = diagnose(
        k8s_job=k8s_job(conditions=failed),
        pods=[pod(main=main, deleting=deleting, conditions=[cond])],
        now=NOW,
    )
    assert found.reason is DISRUPTIONS[kind] and found.retryable and found.node == "n1"


@settings(max_examples=100, deadline=None)
@given(
    main=st.builds(terminated, exit_codes.filter(lambda c: c != 0), term_reasons), backoff=st.integers(1, 6)
)
def test_a_failed_pod_with_retries_left_is_not_a_failure_yet(main: dict[str, Any], backoff: int) -> None:
    found = diagnose(k8s_job=k8s_job(backoff=backoff), pods=[pod(main=main)], now=NOW)
    assert not found.failed


@settings(max_examples=200, deadline=None)
@given(
    main=st.builds(terminated, exit_codes, term_reasons)
    | st.builds(
        lambda r: {"waiting": {"reason": r}}, st.sampled_from(["ErrImagePull", "InvalidImageName", "X"])
    ),
    sidecars=sidecar_states,
    phase=st.sampled_from(["Pending", "Running", "Succeeded", "Failed"]),
    deleting=st.booleans(),
    pod_reason=st.sampled_from([None, "Evicted", "Preempting", "Terminated", "NodeLost", "OutOfmemory"]),
    message=st.text(alphabet="ab \n:", max_size=40),
)
def test_every_failure_has_a_one_line_headline_a_category_and_a_hint(
    *,
    main: dict[str, Any],
    sidecars: dict[str, dict[str, Any]],
    phase: str,
    deleting: bool,
    pod_reason: str | None,
    message: str,
) -> None:
    if "terminated" in main:
        main = {"terminated": {**main["terminated"], "message": message}}  # e.g. FallbackToLogsOnError
    target = pod(main=main, sidecars=sidecars, phase=phase, deleting=deleting)
    if pod_reason:
        target["status"]["reason"] = pod_reason
        target["status"]["message"] = message
    found = diagnose(k8s_job=k8s_job(), pods=[target], now=NOW)
    assert "\n" not in found.headline()
    if found.failed:
        assert found.reason is not None and found.category is not None and found.hint
        assert found.metadata()["reason"] == found.reason.value
        assert found.retryable is found.category.retryable
