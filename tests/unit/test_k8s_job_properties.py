"""Properties of the external K8s Job's layering: whatever env vars and node selectors the step
and the call set, each name appears once and the highest layer that sets it wins."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_ext.k8s.k8s_job import StepOrigin, parse_k8s_job_call, render_k8s_job_call

NAMES = st.sampled_from(["A", "B", "C", "D", "E"])
VALUES = st.text(alphabet="abcxyz019", min_size=1, max_size=5)
ENV = st.dictionaries(NAMES, VALUES, max_size=4)
SELECTOR = st.dictionaries(st.sampled_from(["zone", "disk", "pool"]), VALUES, max_size=3)


def tag(env: dict[str, str]) -> dict[str, Any]:
    items = [{"name": k, "value": v} for k, v in env.items()]
    return {"dagster-k8s/config": {"container_config": {"env": items}}} if items else {}


@settings(max_examples=60, deadline=None)
@given(launcher=ENV, job_tag=ENV, op_tag=ENV, call=ENV)
def test_each_env_var_once_with_the_highest_layers_value(
    launcher: dict[str, str], job_tag: dict[str, str], op_tag: dict[str, str], call: dict[str, str]
) -> None:
    origin = StepOrigin(
        run_id="r",
        dagster_job="j",
        step_key="s",
        launcher_config={"job_namespace": "ns", "env_vars": [f"{k}={v}" for k, v in launcher.items()]},
        run_tags=tag(job_tag),
        op_tags=tag(op_tag),
    )
    parsed = parse_k8s_job_call(
        {"image": "x", "env_vars": [f"{k}={v}" for k, v in call.items()]}, path="p", environ={}
    )
    rendered = render_k8s_job_call(parsed, origin, sequence=0, environ={})
    env = rendered.manifest["spec"]["template"]["spec"]["containers"][0].get("env", [])
    names = [item["name"] for item in env]
    assert len(names) == len(set(names))
    assert {item["name"]: item["value"] for item in env} == {**launcher, **job_tag, **op_tag, **call}


@settings(max_examples=60, deadline=None)
@given(inherited=SELECTOR, call=SELECTOR, shallow=st.booleans())
def test_node_selector_deep_merges_or_is_replaced(
    inherited: dict[str, str], call: dict[str, str], shallow: bool
) -> None:
    origin = StepOrigin(
        run_id="r",
        dagster_job="j",
        step_key="s",
        launcher_config={
            "job_namespace": "ns",
            "run_k8s_config": {"pod_spec_config": {"nodeSelector": inherited}},
        },
    )
    keys: dict[str, Any] = {"image": "x", "merge_behavior": "SHALLOW" if shallow else "DEEP"}
    if call:
        keys["pod_spec_config"] = {"nodeSelector": call}
    rendered = render_k8s_job_call(
        parse_k8s_job_call(keys, path="p", environ={}), origin, sequence=0, environ={}
    )
    found = rendered.manifest["spec"]["template"]["spec"].get("nodeSelector") or {}
    expected = call if (shallow and call) else {**inherited, **call}
    assert found == expected
