"""A code location's container context that replaces the launcher's namespace or ServiceAccount is
announced at launch, by key, never by value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from dagster import DagsterRun

from dagster_ext.dagster_compat.runs import ConfigurableClassData
from dagster_ext.k8s.launcher import K8sRunLauncher
from dagster_ext.k8s.launcher.manifest import RenderedRun, RunRenderInputs, render_run_from
from dagster_ext.k8s.launcher.overrides import overridden_settings

LAUNCHER = {
    "job_namespace": "ns-launcher-1a2b",
    "service_account_name": "sa-launcher-3c4d",
    "job_image": "img:1",
}
VALUES = ("ns-launcher-1a2b", "sa-launcher-3c4d", "ns-location-5e6f", "sa-location-7a8b")


def _render(launcher: Mapping[str, Any], context: Mapping[str, Any] | None) -> RenderedRun:
    return render_run_from(
        RunRenderInputs(
            launcher_config={**launcher, "job_image": "img:1"},
            run_id="r1",
            dagster_job="j",
            args=["dagster", "api", "execute_run"],
            container_context={"k8s": dict(context)} if context is not None else None,
        )
    )


def test_a_replaced_namespace_and_service_account_are_named() -> None:
    rendered = _render(
        LAUNCHER, {"namespace": "ns-location-5e6f", "service_account_name": "sa-location-7a8b"}
    )
    assert rendered.namespace == "ns-location-5e6f"  # dagster-k8s's precedence: the code location wins
    notes = overridden_settings(LAUNCHER, rendered)
    assert len(notes) == 2
    assert "`k8s.namespace`" in notes[0] and "`job_namespace`" in notes[0]
    assert "`k8s.service_account_name`" in notes[1] and "`service_account_name`" in notes[1]
    for note in notes:
        assert not [value for value in VALUES if value in note], note


def test_the_same_values_are_no_override() -> None:
    rendered = _render(
        LAUNCHER, {"namespace": "ns-launcher-1a2b", "service_account_name": "sa-launcher-3c4d"}
    )
    assert overridden_settings(LAUNCHER, rendered) == []


def test_no_container_context_is_no_override() -> None:
    assert overridden_settings(LAUNCHER, _render(LAUNCHER, None)) == []


def test_an_unset_launcher_key_is_no_expectation() -> None:
    rendered = _render({}, {"namespace": "ns-location-5e6f"})
    assert overridden_settings({}, rendered) == []


class _Instance:
    """Records engine events (the launcher only reports here)."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def report_engine_event(self, message: str, run: Any, *args: Any, **kwargs: Any) -> None:
        self.events.append(message)


@pytest.mark.parametrize("explicit", [True, False])
def test_the_launcher_reports_only_keys_the_user_set(
    explicit: bool, caplog: pytest.LogCaptureFixture
) -> None:
    raw = "job_namespace: ns-launcher-1a2b\n" if explicit else "job_image: img:1\n"
    inst_data = ConfigurableClassData("dagster_ext.k8s", "K8sRunLauncher", raw)
    instance = _Instance()
    config = {"job_namespace": "ns-launcher-1a2b" if explicit else "default", "job_image": "img:1"}
    launcher = K8sRunLauncher(inst_data=inst_data, **config)
    launcher.register_instance(instance)  # type: ignore[arg-type]
    rendered = _render(config, {"namespace": "ns-location-5e6f"})
    launcher._warn_about_overrides(DagsterRun(job_name="j", run_id="r1"), rendered)
    if explicit:
        assert len(instance.events) == 1 and "`job_namespace`" in instance.events[0]
        assert "`k8s.namespace`" in caplog.text
    else:
        assert instance.events == []  # the schema's default namespace is not the user's choice
    assert not [value for value in VALUES if value in caplog.text + "".join(instance.events)]
