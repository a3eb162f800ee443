"""containerd for the node: its config file, registry hosts and command line.

Debian's containerd 1.6 with its CRI plugin, runc and the overlayfs snapshotter. Choices that matter:

* `restrict_oom_score_adj = true`: root on this kind of machine lacks CAP_SYS_RESOURCE, so runc cannot
  lower `oom_score_adj` (the pause sandbox asks for -998, Guaranteed pods for -997) and every such
  container would fail to start with "can't get final child's PID from pipe";
* every registry, named or not (`_default`), resolves to the loopback registry only (`server = ...`
  leaves no upstream to fall back to), and the daemon's proxy variables point at a closed loopback
  port, so a name that is in no local registry fails fast as ErrImagePull and nothing is ever asked of
  a host off this machine;
* `root` is kept between clusters (pulled image layers stay unpacked), `state` is per cluster.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SANDBOX_IMAGE = "registry.k8s.io/pause:3.10"
REGISTRIES = ("docker.io", "registry.k8s.io", "ghcr.io", "quay.io", "gcr.io", "public.ecr.aws")
CLOSED_PROXY = "http://127.0.0.1:9"
"""The discard port: nothing listens there, so a proxied request is refused at once, locally."""


@dataclass(frozen=True)
class ContainerdLayout:
    root: Path
    state: Path
    config_dir: Path
    cni_conf_dir: Path

    @property
    def socket(self) -> Path:
        return self.state / "containerd.sock"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def hosts_dir(self) -> Path:
        return self.config_dir / "certs.d"

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"


def config_toml(layout: ContainerdLayout, *, cni_bin_dir: str = "/usr/lib/cni") -> str:
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{layout.root}"
state = "{layout.state}"

[grpc]
  address = "{layout.socket}"

[ttrpc]
  address = "{layout.state}/containerd.sock.ttrpc"

[{cri}]
  sandbox_image = "{SANDBOX_IMAGE}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_unprivileged_ports = false
  disable_apparmor = true
  netns_mounts_under_state_dir = true

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "{cni_bin_dir}"
  conf_dir = "{layout.cni_conf_dir}"
  max_conf_num = 1
  conf_template = ""

[{cri}.registry]
  config_path = "{layout.hosts_dir}"
"""


def hosts_toml(registry_url: str) -> str:
    """One registry's hosts.toml: the loopback registry is the server itself, so there is no fallback."""
    return f'server = "{registry_url}"\n\n[host."{registry_url}"]\n  capabilities = ["pull", "resolve"]\n'


def write_config(layout: ContainerdLayout, *, registry_url: str) -> Path:
    for directory in (layout.root, layout.state, layout.config_dir, layout.cni_conf_dir):
        directory.mkdir(parents=True, exist_ok=True)
    for name in (*REGISTRIES, "_default"):
        host_dir = layout.hosts_dir / name
        host_dir.mkdir(parents=True, exist_ok=True)
        (host_dir / "hosts.toml").write_text(hosts_toml(registry_url))
    layout.config_file.write_text(config_toml(layout))
    return layout.config_file


def containerd_args(layout: ContainerdLayout) -> list[str]:
    return ["containerd", "--config", str(layout.config_file), "--log-level", "warn"]


def containerd_env() -> dict[str, str]:
    """The host environment with every proxy variable at a closed loopback port (see module doc)."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in {"no_proxy", "http_proxy", "https_proxy"}}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env[name] = CLOSED_PROXY
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env
