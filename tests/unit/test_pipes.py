"""The pure parts of `PipesK8sClient`: Pipes messages picked out of log lines, and `run()`'s pod
arguments turned into the layers of an external K8s Job that starts from the step's pod."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster_k8s
import pytest
from dagster import PipesMessageReader
from dagster_pipes import DAGSTER_PIPES_CONTEXT_ENV_VAR, DAGSTER_PIPES_MESSAGES_ENV_VAR

from dagster_ext.errors import ConfigError
from dagster_ext.k8s import PipesK8sClient, PipesK8sPodLogsMessageReader
from dagster_ext.k8s.client import ConnectionSettings
from dagster_ext.k8s.k8s_job.pipes_messages import PipesLineRouter, parse_pipes_message
from dagster_ext.k8s.k8s_job.pipes_pod import DEV_NULL_MESSAGES, command_list, parse_pipes_call
from tests.unit.test_k8s_job import container, env, pod_spec, render

BOOTSTRAP = {DAGSTER_PIPES_CONTEXT_ENV_VAR: "ctx==", DAGSTER_PIPES_MESSAGES_ENV_VAR: "msg=="}
MESSAGE = {"__dagster_pipes_version": "0.1", "method": "log", "params": {"message": "hi", "level": "INFO"}}


def pipes_call(**keys: Any) -> Any:
    arguments: dict[str, Any] = {
        "image": "busybox",
        "command": None,
        "namespace": None,
        "env": (),
        "base_pod_meta": None,
        "base_pod_spec": None,
        "bootstrap_env": BOOTSTRAP,
        "keys": {},
        "connection": ConnectionSettings(),
        "environ": {},
        "path": "PipesK8sClient.run",
    }
    return parse_pipes_call(**{**arguments, **keys})


# --- messages -----------------------------------------------------------------------------------


def test_a_pipes_message_line_is_parsed_and_others_are_not() -> None:
    assert parse_pipes_message(json.dumps(MESSAGE)) == MESSAGE
    assert parse_pipes_message("  " + json.dumps(MESSAGE) + "\r") == MESSAGE
    for plain in ("hello", "{not json __dagster_pipes_version", '{"other": 1}', "[1, 2]", ""):
        assert parse_pipes_message(plain) is None
    assert parse_pipes_message(json.dumps(["__dagster_pipes_version"])) is None


class FakeHandler:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    def handle_message(self, message: Any) -> None:
        self.messages.append(message)


def test_the_router_hands_messages_to_the_session_and_passes_plain_lines_on_in_order() -> None:
    reader, handler, plain = PipesK8sPodLogsMessageReader(), FakeHandler(), []
    route = PipesLineRouter(reader, plain.append)
    route(json.dumps(MESSAGE))  # no session open yet: shown, not lost
    with reader.read_messages(handler) as params:  # type: ignore[arg-type]
        assert params == {"stdio": "stderr"}  # where dagster-pipes in the pod writes messages
        for line in ("first", json.dumps(MESSAGE), "second"):
            route(line)
    route(json.dumps(MESSAGE))
    assert handler.messages == [MESSAGE]
    assert plain == [json.dumps(MESSAGE), "first", "second", json.dumps(MESSAGE)]


class BlobReader(PipesMessageReader):
    @contextmanager
    def read_messages(self, handler: Any) -> Iterator[dict[str, Any]]:
        yield {}

    def no_messages_debug_text(self) -> str:
        return ""


def test_with_another_message_reader_every_line_is_plain_output() -> None:
    plain: list[str] = []
    PipesLineRouter(BlobReader(), plain.append)(json.dumps(MESSAGE))
    assert plain == [json.dumps(MESSAGE)]


# --- layers -------------------------------------------------------------------------------------


def test_the_pipes_k8s_job_starts_from_the_step_pod_and_gets_the_bootstrap_env() -> None:
    rendered = render(
        pipes_call(command=["python", "x.py"], env=({"A": "client", "B": "client"}, {"B": "call"}))
    )
    spec, main, values = pod_spec(rendered), container(rendered), env(rendered)
    assert spec["nodeSelector"] == {"node-group.dp.ssup2": "worker"}  # run launcher layer
    assert spec["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]  # job tag
    assert main["resources"]["limits"] == {"cpu": "2000m", "memory": "4096Mi"}  # op tag
    assert values["FROM_JOB"] == "1" and values["USER"] == "ssup2"
    assert values[DAGSTER_PIPES_CONTEXT_ENV_VAR] == "ctx=="
    assert values[DAGSTER_PIPES_MESSAGES_ENV_VAR] == "msg=="
    assert (values["A"], values["B"]) == ("client", "call")  # the call's env wins over the client's
    assert main["image"] == "busybox" and main["command"] == ["python", "x.py"]
    assert rendered.manifest["spec"]["backoffLimit"] == 0


def test_base_pod_spec_and_meta_are_raw_sections_on_top() -> None:
    base_pod_spec = {
        "containers": [
            {"image": "ignored", "resources": {"limits": {"memory": "1Gi"}}},
            {"name": "sidecar", "image": "busybox"},
        ],
        "init_containers": [{"name": "prepare", "image": "busybox"}],
        "node_selector": {"pool": "pipes"},
    }
    rendered = render(
        pipes_call(base_pod_spec=base_pod_spec, base_pod_meta={"name": "x", "labels": {"team": "data"}})
    )
    spec, main = pod_spec(rendered), container(rendered)
    assert spec["nodeSelector"] == {"node-group.dp.ssup2": "worker", "pool": "pipes"}
    assert main["image"] == "busybox"  # the image argument wins over the first container's
    assert main["resources"]["limits"] == {"cpu": "2000m", "memory": "1Gi"}  # merged with the op tag
    assert rendered.manifest["spec"]["template"]["metadata"]["labels"]["team"] == "data"
    assert "name" not in rendered.manifest["spec"]["template"]["metadata"]
    (sidecar,) = [c for c in spec["containers"] if c["name"] == "sidecar"]
    (init,) = spec["initContainers"]
    for other in (sidecar, init):
        values = {item["name"]: item["value"] for item in other["env"]}
        assert values == {
            DAGSTER_PIPES_CONTEXT_ENV_VAR: "ctx==",
            DAGSTER_PIPES_MESSAGES_ENV_VAR: DEV_NULL_MESSAGES,
        }


def test_a_container_that_writes_its_own_messages_keeps_its_writer() -> None:
    own = {"name": DAGSTER_PIPES_MESSAGES_ENV_VAR, "value": "file"}
    base_pod_spec = {"containers": [{}, {"name": "sidecar", "image": "busybox", "env": [own]}]}
    (sidecar,) = [
        c
        for c in pod_spec(render(pipes_call(base_pod_spec=base_pod_spec)))["containers"]
        if c["name"] == "sidecar"
    ]
    assert {item["name"]: item["value"] for item in sidecar["env"]}[DAGSTER_PIPES_MESSAGES_ENV_VAR] == "file"


def test_the_image_may_come_from_the_first_container_and_a_named_one_is_the_main_container() -> None:
    base_pod_spec = {"containers": [{"name": "main", "image": "busybox", "command": ["true"]}]}
    rendered = render(pipes_call(image=None, base_pod_spec=base_pod_spec))
    assert rendered.container_name == "main"
    assert container(rendered)["image"] == "busybox"


def test_keys_are_checked_with_their_path_and_never_quote_a_value() -> None:
    with pytest.raises(ConfigError) as raised:
        pipes_call(image=None)
    assert "PipesK8sClient.run.image" in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        pipes_call(base_pod_spec={"containers": "s3cr3t"})
    assert "base_pod_spec.containers" in str(raised.value) and "s3cr3t" not in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        pipes_call(base_pod_meta={"labels": {"team": ["s3cr3t"]}})
    assert "s3cr3t" not in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        pipes_call(command=[1])
    assert "PipesK8sClient.run.command" in str(raised.value)


def test_a_string_command_is_split_like_a_shell_would() -> None:
    assert command_list("python -c 'print(1)'", path="p") == ["python", "-c", "print(1)"]
    assert command_list(None, path="p") is None


def test_the_timeout_and_deletion_keys_map_to_the_k8s_job_call() -> None:
    call = pipes_call(
        keys={"timeout": 30.0, "delete_failed_k8s_jobs": False, "failure_grace_seconds": {"image_pull": 0}}
    )
    assert call.timeout_s == 30.0 and not call.delete_failed_k8s_jobs
    assert call.diagnosis.image_pull_grace_s == 0


# --- the client's signature ---------------------------------------------------------------------


def _keys(function: Any) -> list[str]:
    return [name for name, p in inspect.signature(function).parameters.items() if p.kind != p.VAR_KEYWORD]


def test_the_constructor_and_run_take_dagster_k8s_keys() -> None:
    theirs = dagster_k8s.PipesK8sClient
    assert _keys(theirs.__init__) == _keys(PipesK8sClient.__init__)[: len(_keys(theirs.__init__))]
    assert set(_keys(theirs.run)) <= set(_keys(PipesK8sClient.run))


def test_the_constructor_refuses_in_cluster_with_a_kubeconfig_and_an_unknown_run_key() -> None:
    with pytest.raises(ConfigError, match="load_incluster_config"):
        PipesK8sClient(load_incluster_config=True, kubeconfig_file="/k")
    with pytest.raises(ConfigError, match="did you mean 'log_tail_lines'"):
        PipesK8sClient().run(context=None, log_tail_line=3)  # type: ignore[arg-type]


def test_errors_name_the_keys_the_user_wrote() -> None:
    base_pod_spec = {
        "containers": [{"resorces": {}}, {"name": "sidecar", "image": "busybox", "imag": "x"}],
        "nodeSelectr": {},
    }
    with pytest.raises(ConfigError) as raised:
        pipes_call(base_pod_spec=base_pod_spec)
    text = str(raised.value)
    assert raised.value.path == "PipesK8sClient.run.base_pod_spec.containers[0].resorces"
    assert "PipesK8sClient.run.base_pod_spec.nodeSelectr: unknown field; did you mean 'nodeSelector'?" in text
    assert "PipesK8sClient.run.base_pod_spec.containers[1].imag" in text
    with pytest.raises(ConfigError) as raised:
        pipes_call(base_pod_meta={"lables": {}})
    assert raised.value.path == "PipesK8sClient.run.base_pod_meta.lables"
    with pytest.raises(ConfigError) as raised:
        pipes_call(env=({"TOKEN": 1},))
    assert raised.value.path == "PipesK8sClient.run.env.TOKEN"
