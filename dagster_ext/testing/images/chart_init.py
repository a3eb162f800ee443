"""The image of the official Dagster chart's init containers: busybox with `pg_isready` and a
busybox-1.28 `nslookup`.

The chart's webserver and daemon wait for PostgreSQL with `pg_isready -h HOST -p PORT -U USER` in
`postgresql.image` (upstream: a full PostgreSQL server image) and for each code location with
`nslookup <name>` in `busybox.image` (pinned to busybox 1.28 upstream). Here one image serves both:
`pg_isready` checks what the init container needs, a TCP connection to HOST:PORT accepted; and
`nslookup` runs busybox's but exits 0 when the name resolved under any search domain, as 1.28 did
(later busybox, Debian's included, exits 1 when another search domain answers NXDOMAIN, so a short
Service name never passes). The chart is installed unchanged; only the two image values point here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from dagster_ext.testing.images.oci import Layout, write_files_layer

RECIPE = "3"
"""Bump when the script changes, so the cached image is rebuilt."""

PG_ISREADY = b"""#!/bin/sh
# pg_isready -h HOST -p PORT [-U USER] [-d DB] [-t SECONDS]: exit 0 when HOST:PORT accepts connections.
host=localhost port=5432
while [ $# -gt 0 ]; do
  case "$1" in
    -h) host=$2; shift ;;
    -p) port=$2; shift ;;
    -U|-d|-t) shift ;;
  esac
  shift
done
# busybox's own resolver: a static glibc binary cannot load the NSS modules getaddrinfo needs
case "$host" in
  *[!0-9.]*)
    addr=$(nslookup "$host" 2>/dev/null |
      awk '/^Name:/ { n = 1 } n && /^Address/ { a = $NF } END { print a }')
    ;;
  *) addr=$host ;;
esac
if [ -n "$addr" ] && nc -w 3 "$addr" "$port" -e true 2>/dev/null; then
  echo "$host:$port - accepting connections"
  exit 0
fi
echo "$host:$port - no response"
exit 2
"""


NSLOOKUP = b"""#!/bin/sh
# busybox's nslookup with busybox 1.28's exit status: 0 when the name resolved (under any search domain).
out=$(/bin/nslookup "$@" 2>&1)
echo "$out"
echo "$out" | awk '/^Name:/ { n = 1 } n && /^Address/ { found = 1 } END { exit !found }'
"""


def ensure(layout: Layout, busybox_tag: str) -> str:
    """The image's tag in `layout` (busybox + the two scripts), built once per recipe."""
    tag = f"chart-init-{RECIPE}"
    if not layout.has(tag):
        with tempfile.TemporaryDirectory() as tmp:
            files = {"/usr/bin/pg_isready": (PG_ISREADY, 0o755), "/usr/bin/nslookup": (NSLOOKUP, 0o755)}
            tar = write_files_layer(Path(tmp) / "chart-init.tar", files)
            layout.add_layer(busybox_tag, tar, new_tag=tag, comment="pg_isready and nslookup for chart inits")
            layout.configure(tag, env={"PATH": "/usr/bin:/bin"}, cmd=["sh"])
    return tag
