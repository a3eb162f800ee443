"""The local cluster itself: a failed start-up leaks nothing and says why; the CLI's detached life cycle;
one node per machine.

These start their own clusters (they test `LocalCluster`, not Kubernetes), so they need the binaries
even when the rest of the suite runs against `--kubeconfig`. They start them without a node: the
session's cluster owns this machine's node (the node itself is tested in test_node.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_ext.testing.cluster import ComponentStartError, LocalCluster
from dagster_ext.testing.cluster.errors import NodeSetupError
from dagster_ext.testing.cluster.state import load_state
from dagster_ext.testing.pytest_plugin import K8sCluster

pytestmark = [pytest.mark.cluster, pytest.mark.local_cluster, pytest.mark.timeout(120)]


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(f"{entry.name}: {cmdline}")
    return found


def test_failed_start_up_names_the_component_shows_its_log_and_stops_the_rest(tmp_path: Path) -> None:
    cluster = LocalCluster(
        state_dir=tmp_path, with_node=False, extra_apiserver_args=("--no-such-flag",), start_timeout_s=30
    )
    with pytest.raises(ComponentStartError) as caught:
        cluster.start()
    assert caught.value.component == "kube-apiserver"
    assert "unknown flag: --no-such-flag" in str(caught.value)  # from the log tail
    assert _processes_mentioning(str(tmp_path)) == []  # etcd, started first, was stopped


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from dagster_ext.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, "cluster", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_cli_up_detached_status_and_down(tmp_path: Path) -> None:
    state_dir = str(tmp_path / "state")
    up = _cli("up", "--detach", "--no-node", "--state-dir", state_dir)
    try:
        assert up.returncode == 0, up.stderr
        kubeconfig = _cli("kubeconfig", "--state-dir", state_dir).stdout.strip()
        assert up.stdout.strip() == f"export KUBECONFIG={kubeconfig}"
        status = _cli("status", "--state-dir", state_dir)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "ready" in status.stdout
        kubectl = shutil.which("kubectl")
        if kubectl:
            ready = subprocess.run(
                [kubectl, "--kubeconfig", kubeconfig, "get", "--raw", "/readyz"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert ready.stdout.strip() == "ok", ready.stdout + ready.stderr
        refs = load_state(Path(state_dir))
        assert refs is not None and all(refs.alive().values())
    finally:
        down = _cli("down", "--state-dir", state_dir)
    assert down.returncode == 0, down.stderr
    assert not any(refs.alive().values())
    assert _processes_mentioning(state_dir) == []
    assert _cli("status", "--state-dir", state_dir).returncode == 1


def test_a_second_node_on_the_machine_is_refused_before_anything_starts(
    k8s_cluster: K8sCluster, tmp_path: Path
) -> None:
    if not k8s_cluster.is_local:
        pytest.skip("the session's cluster is not a LocalCluster: this machine's node is not in use")
    second = LocalCluster(state_dir=tmp_path)
    with pytest.raises(NodeSetupError, match="one node per"):
        second.start()
    assert _processes_mentioning(str(tmp_path)) == []
