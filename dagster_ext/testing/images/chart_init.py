"""The image of the official Dagster chart's init containers: `pg_isready` and `nslookup` that
behave like the upstream images' for what the init containers ask.

The chart's webserver and daemon wait for PostgreSQL with `pg_isready -h HOST -p PORT -U USER` in
`postgresql.image` (upstream: a full PostgreSQL image) and for each code location with
`nslookup <name>` in `busybox.image` (pinned to busybox 1.28 upstream, whose nslookup resolves
through the search path like libc). Neither is on this machine: Debian's static busybox runs its
own nslookup whatever PATH says, and that one exits 1 when any search domain answers NXDOMAIN, so a
short Service name never passes. So this image is the user-code image (Debian, Python) plus two
small scripts in /usr/local/bin: `nslookup` resolves with libc (search path and all) and prints the
addresses; `pg_isready` checks that HOST:PORT accepts a TCP connection. The chart is installed
unchanged; only `postgresql.image` and `busybox.image` point here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from dagster_ext.testing.images import user_code
from dagster_ext.testing.images.oci import Layout, write_files_layer

RECIPE = "4"
"""Bump when a script changes, so the image is rebuilt."""

NSLOOKUP = b'''#!/usr/bin/python3
"""nslookup NAME: the addresses NAME resolves to through libc (search path applied); exit 1 if none."""
import socket
import sys

name = sys.argv[-1]
try:
    addresses = sorted({info[4][0] for info in socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)})
except OSError as err:
    print(f"** can't resolve {name}: {err}")
    sys.exit(1)
print(f"Name: {name}")
for address in addresses:
    print(f"Address: {address}")
'''

PG_ISREADY = b'''#!/usr/bin/python3
"""pg_isready -h HOST -p PORT [-U USER] [-d DB] [-t SECONDS]: exit 0 when HOST:PORT accepts connections."""
import argparse
import socket
import sys

parser = argparse.ArgumentParser(add_help=False)
parser.add_argument("-h", default="localhost")
parser.add_argument("-p", type=int, default=5432)
args, _ = parser.parse_known_args()
try:
    socket.create_connection((args.h, args.p), timeout=3).close()
except OSError:
    print(f"{args.h}:{args.p} - no response")
    sys.exit(2)
print(f"{args.h}:{args.p} - accepting connections")
'''


def ensure(layout: Layout, code_tag: str) -> str:
    """The image's tag in `layout`: the user-code image `code_tag` plus the two scripts."""
    tag = f"chart-init-{RECIPE}-{code_tag}"
    if not layout.has(tag):
        with tempfile.TemporaryDirectory() as tmp:
            files = {
                "/usr/local/bin/pg_isready": (PG_ISREADY, 0o755),
                "/usr/local/bin/nslookup": (NSLOOKUP, 0o755),
            }
            tar = write_files_layer(Path(tmp) / "chart-init.tar", files)
            layout.add_layer(code_tag, tar, new_tag=tag, comment="pg_isready and nslookup for chart inits")
            layout.configure(tag, env=user_code.ENV, cmd=["sh"])
    return tag
