"""Real Redis and PostgreSQL servers from Debian's packages, in temp dirs.

The tests talk to the real servers (no fakes); these context managers start private instances so
tests never depend on, or disturb, a system service. They listen on loopback and, when the local
node's bridge exists, on its address too, which is how pods reach them (`service_host()`; set
`DAGSTER_EXT_SERVICE_HOST` to an address pods of another cluster reach, e.g. on kind). PostgreSQL
refuses to run as root, so when we are root it runs as the `postgres` user the Debian package creates.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster_ext.errors import DagsterExtError
from dagster_ext.testing._procs import free_port, stop_process_group, wait_for_port
from dagster_ext.testing.node.network import POD_SUBNET, listen_addresses, service_host


class ServiceError(DagsterExtError):
    """A test service could not be started; the message says what to install or read."""


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    data_dir: Path
    host: str = "127.0.0.1"
    """The address in `url`: one both this machine and pods reach."""

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def restart(self) -> None:
        """Stop and start on the same port with the same data dir (AOF keeps the queues)."""
        stop_process_group(self.process)
        self.process = _spawn_redis(self.port, self.data_dir)
        if not wait_for_port(self.port, timeout_s=10, proc=self.process):
            raise ServiceError(f"redis did not come back on port {self.port}")


def _spawn_redis(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceError("redis-server not found: run scripts/setup.sh (apt-get install redis-server)")
    args = [binary, "--bind", *listen_addresses(), "--port", str(port), "--dir", str(data_dir)]
    # Protected mode would refuse pods (they connect from the bridge, not loopback); the server listens
    # only on loopback and the node bridge, which nothing outside this machine reaches.
    args += ["--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no"]
    log = open(data_dir / "redis.log", "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    data_dir = Path(tempfile.mkdtemp(prefix="dagster-ext-redis-"))
    port = free_port()
    proc = _spawn_redis(port, data_dir)
    server = RedisServer(port=port, process=proc, data_dir=data_dir, host=service_host())
    try:
        if not wait_for_port(port, timeout_s=10, proc=proc):
            raise ServiceError(f"redis failed to start:\n{_tail(data_dir / 'redis.log')}")
        yield server
    finally:
        stop_process_group(server.process)
        shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class _PostgresProcess:
    """The running postmaster and how to start it again (same data directory, port and options)."""

    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes]

    def start(self) -> None:
        self.proc = _spawn_postgres(self.argv, self.log)


def _wait_port_closed(port: int, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return
        time.sleep(0.1)
    raise ServiceError(f"postgres still listens on port {port} after {timeout_s:.0f} s")


def _spawn_postgres(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


@dataclass(frozen=True)
class PostgresServer:
    port: int
    user: str
    password: str
    db_name: str
    host: str = "127.0.0.1"
    """The address in `url` and the storage config: one both this machine and pods reach."""
    process: _PostgresProcess | None = field(default=None, compare=False, repr=False)

    def restart(self, *, down_s: float = 3.0) -> None:
        """Stop the server (a fast shutdown: every session is ended), leave it down for `down_s`
        seconds and start it again on the same port with the same data: what a database failover
        or upgrade does to its clients."""
        if self.process is None:
            raise ServiceError("this PostgresServer was not started here: it cannot be restarted")
        proc = self.process.proc
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stop_process_group(proc, grace_s=0)
        _wait_port_closed(self.port, timeout_s=30)  # the postmaster, not only its runuser parent
        time.sleep(down_s)
        self.process.start()
        if not wait_for_port(self.port, timeout_s=30, proc=self.process.proc):
            raise ServiceError(f"postgres did not come back:\n{_tail(self.process.log)}")

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.db_name}"

    def dagster_storage_config(self) -> dict[str, Any]:
        """The `storage.postgres` section of a dagster.yaml (password taken from the env)."""
        return {
            "postgres": {
                "postgres_db": {
                    "username": self.user,
                    "password": {"env": "DAGSTER_PG_PASSWORD"},
                    "hostname": self.host,
                    "db_name": self.db_name,
                    "port": self.port,
                }
            }
        }


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise ServiceError(f"{name} not found: run scripts/setup.sh (apt-get install postgresql)")
    return path


def _as_postgres_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError as err:
        raise ServiceError("running as root needs the 'postgres' user (apt-get install postgresql)") from err
    return ["runuser", "-u", "postgres", "--"]


@contextmanager
def postgres_server(*, db_name: str = "dagster", password: str = "dagster-test") -> Iterator[PostgresServer]:
    root = Path(tempfile.mkdtemp(prefix="dagster-ext-pg-"))
    data, pwfile = root / "data", root / "pw"
    pwfile.write_text(password)
    wrap = _as_postgres_user()
    if wrap:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
    port = free_port()
    init = [_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--pwfile", str(pwfile), "-A", "md5"]
    subprocess.run([*wrap, *init], check=True, capture_output=True)
    with open(data / "pg_hba.conf", "a") as hba:  # pods connect from the node's pod subnet
        hba.write(f"host all all {POD_SUBNET} md5\n")
    log = root / "postgres.log"
    addresses = ",".join(listen_addresses())
    args = [_pg_bin("postgres"), "-D", str(data), "-h", addresses, "-p", str(port), "-k", str(root)]
    args += ["-c", "fsync=off", "-c", "max_connections=200", "-c", "synchronous_commit=off"]
    process = _PostgresProcess([*wrap, *args], log, _spawn_postgres([*wrap, *args], log))
    try:
        if not wait_for_port(port, timeout_s=30, proc=process.proc):
            raise ServiceError(f"postgres failed to start:\n{_tail(log)}")
        _create_db(port, password, db_name)
        yield PostgresServer(
            port=port,
            user="postgres",
            password=password,
            db_name=db_name,
            host=service_host(),
            process=process,
        )
    finally:
        stop_process_group(process.proc, grace_s=10)
        shutil.rmtree(root, ignore_errors=True)


def _create_db(port: int, password: str, db_name: str) -> None:
    env = {**os.environ, "PGPASSWORD": password}
    cmd = [
        _pg_bin("psql"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-U",
        "postgres",
        "-c",
        f"CREATE DATABASE {db_name}",
    ]
    for _ in range(50):
        result = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True)
        if result.returncode == 0:
            return
        time.sleep(0.1)
    raise ServiceError(f"could not create database {db_name}: {result.stderr}")
