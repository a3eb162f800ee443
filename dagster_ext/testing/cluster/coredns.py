"""The CoreDNS binary of the local cluster's DNS, built from the Go module proxy and cached per version.

Pods resolve `<service>.<namespace>.svc.cluster.local` as on any cluster; see `node/dns.py` for how it
runs. A static binary (CGO off), so it needs nothing from this machine's libraries.
"""

from __future__ import annotations

from pathlib import Path

from dagster_ext.testing.cluster.gotools import GoTool, ensure_go_tool

COREDNS_VERSION = "v1.14.7"
COREDNS_ENV = "DAGSTER_EXT_COREDNS"
"""Environment variable naming a prebuilt coredns executable; skips the cache and the build."""


def coredns_tool(version: str = COREDNS_VERSION) -> GoTool:
    return GoTool(
        name="coredns",
        package="github.com/coredns/coredns",
        version=version,
        override_env=COREDNS_ENV,
    )


def ensure_coredns(version: str = COREDNS_VERSION) -> Path:
    """Return a coredns executable of `version`, building it with `go install` when it is not cached."""
    return ensure_go_tool(coredns_tool(version))
