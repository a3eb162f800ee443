"""`dagster-ext cluster build|up|down|status|kubeconfig`: the local test cluster from a shell.

`up` runs in the foreground (Ctrl-C stops everything) or with `--detach`, leaving the processes running
and their PIDs in `<state-dir>/state.json` for `status` and `down`.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TypeVar

import click
import yaml

from dagster_ext.testing.cluster import LocalCluster, NodeSettings, ensure_binaries
from dagster_ext.testing.cluster.control_plane import DEFAULT_NODE_LABELS
from dagster_ext.testing.cluster.errors import ClusterError
from dagster_ext.testing.cluster.probing import ApiProbe
from dagster_ext.testing.cluster.processes import rss_bytes
from dagster_ext.testing.cluster.state import load_state, stop_saved_cluster
from dagster_ext.testing.node.registry import ensure_registry_binary

STATE_DIR_ENV = "DAGSTER_EXT_CLUSTER_STATE_DIR"
T = TypeVar("T")


def default_state_dir() -> Path:
    """`$DAGSTER_EXT_CLUSTER_STATE_DIR`, else `$XDG_STATE_HOME/dagster-ext/cluster` (~/.local/state)."""
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "dagster-ext" / "cluster"


_state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=default_state_dir,
    show_default=f"${STATE_DIR_ENV} or ~/.local/state/dagster-ext/cluster",
    help="Where the cluster keeps certificates, logs, etcd data and state.json.",
)


@click.group()
def cluster() -> None:
    """A local Kubernetes cluster: control plane and one real node (for tests and demos)."""


@cluster.command()
@click.option("--version", "version", default=None, help="Kubernetes version (default: the one gomod/ pins).")
def build(version: str | None) -> None:
    """Build (or find cached) the Kubernetes binaries and the node's image registry."""
    paths = _or_fail(lambda: ensure_binaries(version))
    for path in (
        paths.etcd,
        paths.kube_apiserver,
        paths.kube_controller_manager,
        paths.kube_scheduler,
        paths.kubelet,
        paths.kube_proxy,
        _or_fail(ensure_registry_binary),
    ):
        click.echo(str(path))


@cluster.command()
@_state_dir_option
@click.option("--detach", is_flag=True, help="Leave the cluster running and return.")
@click.option(
    "--node-label", "node_labels", multiple=True, metavar="KEY=VALUE", help="Replaces the defaults."
)
@click.option(
    "--node/--no-node",
    "with_node",
    default=True,
    show_default=True,
    help="Start the node (containerd, kubelet, kube-scheduler, kube-proxy, image registry) or only the API.",
)
@click.option(
    "--timeout", "timeout_s", type=float, default=120.0, show_default=True, help="Start-up timeout (s)."
)
def up(
    state_dir: Path, detach: bool, node_labels: tuple[str, ...], with_node: bool, timeout_s: float
) -> None:
    """Start the cluster and print its kubeconfig path."""
    node = NodeSettings(labels=_labels(node_labels))
    local = LocalCluster(
        state_dir=state_dir,
        node=node,
        with_node=with_node,
        start_timeout_s=timeout_s,
        die_with_parent=not detach,
    )
    started = time.monotonic()
    _or_fail(local.start)
    click.echo(f"cluster ready in {time.monotonic() - started:.1f}s: {local.server_url}", err=True)
    click.echo(f"export KUBECONFIG={local.kubeconfig_path}")
    if detach:
        return
    _serve_until_signal(local)


def _serve_until_signal(local: LocalCluster) -> None:
    def _interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)
    click.echo("running; Ctrl-C stops it", err=True)
    try:
        while True:
            dead = [ref.name for ref in local.processes if not ref.alive()]
            if dead:
                raise click.ClickException(f"{', '.join(dead)} exited; logs in {local.layout.logs_dir}")
            time.sleep(1)
    except KeyboardInterrupt:
        click.echo("stopping", err=True)
    finally:
        local.stop()


@cluster.command()
@_state_dir_option
def down(state_dir: Path) -> None:
    """Stop a cluster started with `up --detach` (by the PIDs in its state file)."""
    stopped = stop_saved_cluster(state_dir)
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else f"no running cluster in {state_dir}")


@cluster.command()
@_state_dir_option
def status(state_dir: Path) -> None:
    """Show each process (PID, alive, RSS) and whether the apiserver is ready; exit 1 if not healthy."""
    state = load_state(state_dir)
    if state is None:
        click.echo(f"no cluster in {state_dir}")
        sys.exit(1)
    healthy = True
    for ref in state.processes:
        alive = ref.alive()
        healthy &= alive
        rss = f"{rss_bytes(ref.pid) / 2**20:.0f} MiB" if alive else "-"
        click.echo(f"{ref.name:<24} pid {ref.pid:<8} {'running' if alive else 'DEAD':<8} rss {rss}")
    ready = _probe(state.kubeconfig, state_dir).ok("/readyz")
    healthy &= ready
    click.echo(f"apiserver {state.server_url} {'ready' if ready else 'NOT READY'}")
    click.echo(f"kubeconfig {state.kubeconfig}")
    sys.exit(0 if healthy else 1)


@cluster.command()
@_state_dir_option
def kubeconfig(state_dir: Path) -> None:
    """Print the admin kubeconfig path of the running cluster."""
    state = load_state(state_dir)
    if state is None:
        raise click.ClickException(f"no cluster in {state_dir}: run `dagster-ext cluster up --detach`")
    click.echo(state.kubeconfig)


def _probe(kubeconfig_path: str, state_dir: Path) -> ApiProbe:
    document = yaml.safe_load(Path(kubeconfig_path).read_text())
    token = document["users"][0]["user"]["token"]
    server = document["clusters"][0]["cluster"]["server"]
    return ApiProbe(server, state_dir / "pki" / "ca.crt", token)


def _labels(pairs: tuple[str, ...]) -> dict[str, str]:
    if not pairs:
        return dict(DEFAULT_NODE_LABELS)
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--node-label")
        labels[key] = value
    return labels


def _or_fail(action: Callable[[], T]) -> T:
    """Run `action`; our cluster errors become a clean CLI error (message incl. log tail), not a trace."""
    try:
        return action()
    except ClusterError as err:
        raise click.ClickException(str(err)) from err
