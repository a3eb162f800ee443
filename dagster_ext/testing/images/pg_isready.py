"""A `pg_isready` image for the Dagster chart's `check-db-ready` init containers.

The official chart's webserver and daemon wait for PostgreSQL with `pg_isready -h HOST -p PORT -U USER`
in `postgresql.image` (upstream: a full PostgreSQL server image). Here that image is busybox plus a
`pg_isready` that checks what the init container needs: a TCP connection to HOST:PORT is accepted.
The chart is installed unchanged; only `postgresql.image` points here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from dagster_ext.testing.images.oci import Layout, write_files_layer

RECIPE = "2"
"""Bump when the script changes, so the cached image is rebuilt."""

SCRIPT = b"""#!/bin/sh
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


def ensure(layout: Layout, busybox_tag: str) -> str:
    """The image's tag in `layout` (busybox + the script), built once per recipe."""
    tag = f"pg-isready-{RECIPE}"
    if not layout.has(tag):
        with tempfile.TemporaryDirectory() as tmp:
            files = {"/usr/bin/pg_isready": (SCRIPT, 0o755)}
            tar = write_files_layer(Path(tmp) / "pg_isready.tar", files)
            layout.add_layer(busybox_tag, tar, new_tag=tag, comment="pg_isready: a TCP check")
            layout.configure(tag, env={"PATH": "/usr/bin:/bin"}, cmd=["pg_isready"])
    return tag
