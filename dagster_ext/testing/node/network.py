"""The node's network: one Linux bridge private to this machine, and the CNI config that puts pods on it.

Pods live in network namespaces that containerd creates; the bridge plugin plugs each into `dxbr0`
(host-local IPAM on `POD_SUBNET`). The bridge's own address, `NODE_IP`, is the node's InternalIP: the
kubelet, the API server and the test services (PostgreSQL, Redis) listen there, so pods reach them
without anything leaving the machine.

Nothing is routed off the machine: `ip_forward` is left as found (off here), pods get no masquerade,
and a FORWARD guard drops anything from the bridge to another interface even if forwarding is on.
Forwarding on the bridge itself is on, so a pod reaches another pod through a Service (kube-proxy's
DNAT to a pod address needs the host to route bridge -> bridge).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
from pathlib import Path

from dagster_ext.testing.cluster.binaries import build_lock
from dagster_ext.testing.cluster.errors import NodeSetupError

BRIDGE = "dxbr0"
POD_SUBNET = "10.244.0.0/16"
"""A /16 for one node: host-local hands addresses out in turn, and a pod address reused soon after its
pod ended meets the server side's TIME_WAIT of that pod's last connections (a new SYN from the same
address and port is then dropped and retried for up to a minute); 65,000 addresses make reuse rare."""
NODE_IP = "10.244.0.1"
CNI_NETWORK = "dagster-ext"
SERVICE_HOST_ENV = "DAGSTER_EXT_SERVICE_HOST"
"""Where pods reach the host's test services; defaults to `NODE_IP` when the bridge exists."""

_GUARD_COMMENT = "dagster-ext: nothing leaves the node bridge"
_LOCK = Path("/run/dagster-ext-network.lock")


def cni_conflist(ipam_data_dir: Path) -> dict[str, object]:
    """Bridge + host-local IPAM + portmap; `isGateway` gives pods a default route via `NODE_IP`,
    `ipMasq: false` keeps their source address, so nothing is NATed towards another interface."""
    return {
        "cniVersion": "1.0.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(ipam_data_dir),
                    "ranges": [[{"subnet": POD_SUBNET, "gateway": NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def write_cni_config(conf_dir: Path) -> Path:
    conf_dir.mkdir(parents=True, exist_ok=True)
    path = conf_dir / f"10-{CNI_NETWORK}.conflist"
    path.write_text(json.dumps(cni_conflist(conf_dir.parent / "ipam"), indent=2) + "\n")
    return path


def bridge_exists() -> bool:
    return Path(f"/sys/class/net/{BRIDGE}").exists()


def service_host() -> str:
    """The address pods use for the host's test services (PostgreSQL, Redis)."""
    given = os.environ.get(SERVICE_HOST_ENV)
    if given:
        return given
    return NODE_IP if bridge_exists() else "127.0.0.1"


def listen_addresses() -> list[str]:
    """Where a host test service listens: loopback, plus the bridge address when there is one."""
    return ["127.0.0.1", NODE_IP] if bridge_exists() else ["127.0.0.1"]


def ensure_bridge() -> None:
    """Create the bridge with `NODE_IP` and the FORWARD guard, idempotently (it is kept afterwards:
    servers bound to `NODE_IP` must not lose their address while a cluster restarts)."""
    with build_lock(_LOCK):
        if not bridge_exists():
            _ip("link", "add", BRIDGE, "type", "bridge")
        wanted = f"{NODE_IP}/{ipaddress.ip_network(POD_SUBNET).prefixlen}"
        current = _run(["ip", "-o", "-4", "addr", "show", "dev", BRIDGE]).stdout.split()
        for address in current:
            if address.startswith(f"{NODE_IP}/") and address != wanted:
                _ip("addr", "del", address, "dev", BRIDGE)  # an older prefix length
        if wanted not in _run(["ip", "-o", "-4", "addr", "show", "dev", BRIDGE]).stdout.split():
            _ip("addr", "add", wanted, "dev", BRIDGE)
        _ip("link", "set", BRIDGE, "up")
        _sysctl(f"net/ipv4/conf/{BRIDGE}/forwarding", "1")
        _sysctl("net/bridge/bridge-nf-call-iptables", "1", optional=True)
        _ensure_forward_guard()


def forget_neighbours() -> None:
    """Drop the bridge's ARP entries. Each cluster's IPAM starts again at the first address, so a
    new pod may get the address of a pod of the previous cluster whose MAC this host still holds:
    packets to the new pod would go to the old MAC until the entry expires (up to a minute)."""
    _ip("neigh", "flush", "dev", BRIDGE)


def _ensure_forward_guard() -> None:
    rule = ["FORWARD", "-i", BRIDGE, "!", "-o", BRIDGE, "-m", "comment", "--comment", _GUARD_COMMENT]
    rule += ["-j", "DROP"]
    iptables = shutil.which("iptables")
    if iptables is None:
        raise NodeSetupError("iptables is needed for the node network: run scripts/setup.sh")
    if subprocess.run([iptables, "-w", "-C", *rule], capture_output=True, check=False).returncode != 0:
        _run([iptables, "-w", "-I", *rule])


def _sysctl(key: str, value: str, *, optional: bool = False) -> None:
    path = Path("/proc/sys") / key
    try:
        if path.read_text().strip() != value:
            path.write_text(value)
    except OSError as err:
        if not optional:
            raise NodeSetupError(f"cannot set {key.replace('/', '.')}={value}: {err}") from err


def _ip(*args: str) -> None:
    _run(["ip", *args])


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError as err:
        raise NodeSetupError(f"{argv[0]} not found: run scripts/setup.sh") from err
    if result.returncode != 0:
        raise NodeSetupError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result
