from __future__ import annotations

import os
import sys
from pathlib import Path

from dagster_ext.testing.kubelet.__main__ import parser, settings_from
from dagster_ext.testing.kubelet.settings import base_env, service_env

ARGS = [
    "--kubeconfig=/k",
    "--node-name=n",
    "--port=1234",
    "--state-dir=/tmp/s",
    "--tls-cert=c",
    "--tls-key=k",
    "--node-label=a=b",
    "--node-label=c=",
    "--unpullable-image-regex=does-not-exist",
    "--memory=16Gi",
]


def test_cli_contract() -> None:
    settings = settings_from(parser().parse_args(ARGS))
    assert settings.node_labels == {"a": "b", "c": ""}
    assert settings.memory_bytes == 16 * 2**30
    assert settings.cpu == "64"
    assert settings.state_dir == Path("/tmp/s")
    assert settings.is_unpullable("registry/does-not-exist:1") and not settings.is_unpullable("python:3.11")


def test_base_env_is_an_allow_list_with_our_python_first() -> None:
    settings = settings_from(parser().parse_args([*ARGS, "--inherit-env=EXTRA"]))
    host = {
        "PATH": "/usr/bin",
        "KUBECONFIG": "/admin",
        "AWS_SECRET_ACCESS_KEY": "x",
        "EXTRA": "1",
        "LANG": "C",
    }
    env = base_env(settings, host)
    assert "KUBECONFIG" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert env["EXTRA"] == "1" and env["LANG"] == "C"
    assert env["PATH"].split(os.pathsep) == [os.path.dirname(sys.executable), "/usr/bin"]


def test_service_env_points_at_the_api_server() -> None:
    assert service_env("127.0.0.1", 6443) == {
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": "6443",
        "KUBERNETES_SERVICE_PORT_HTTPS": "6443",
        "KUBERNETES_PORT": "tcp://127.0.0.1:6443",
    }
