"""CRI-format log files, reading them back with the kubelet's options, and the HTTPS endpoint."""

from __future__ import annotations

import datetime
import io
import ssl
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from dagster_ext.testing.kubelet import timefmt
from dagster_ext.testing.kubelet.logfiles import LogOptions, LogWriter, read_log
from dagster_ext.testing.kubelet.logserver import LogIndex, LogNotAvailable, LogServer, parse_log_query
from dagster_ext.testing.kubelet.podspec import PodKey


def write(path: Path, *lines: tuple[str, str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        for ts, stream, content in lines:
            handle.write(f"{ts} {stream} F {content}\n".encode())


def text(path: Path, options: LogOptions) -> str:
    return b"".join(read_log(path, options, finished=lambda: True)).decode()


def test_writer_keeps_lines_streams_and_partial_tail(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path / "0.log")
    writer.attach(io.BytesIO(b"err\n"), "stderr")
    writer.close()
    writer = LogWriter(tmp_path / "0.log")
    writer.attach(io.BytesIO(b"one\ntwo\nno-newline"), "stdout")
    writer.close()
    assert text(writer.path, LogOptions()) == "err\none\ntwo\nno-newline"
    lines = writer.path.read_bytes().splitlines()
    assert any(b" stderr F err" in line for line in lines)
    assert any(line.endswith(b" stdout P no-newline") for line in lines)


def test_tail_since_timestamps_limit(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    write(
        path,
        ("2024-01-01T00:00:00.000000001Z", "stdout", "a"),
        ("2024-01-01T00:00:10.000000000Z", "stdout", "b"),
        ("2024-01-01T00:00:20.000000000Z", "stderr", "c"),
    )
    assert text(path, LogOptions()) == "a\nb\nc\n"
    assert text(path, LogOptions(tail_lines=2)) == "b\nc\n"
    assert text(path, LogOptions(tail_lines=0)) == ""
    assert text(path, LogOptions(since_ns=timefmt.parse_ns("2024-01-01T00:00:05Z"))) == "b\nc\n"
    assert text(path, LogOptions(timestamps=True, tail_lines=1)) == "2024-01-01T00:00:20.000000000Z c\n"
    assert text(path, LogOptions(limit_bytes=3)) == "a\nb"


def test_follow_ends_when_container_finishes(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    write(path, (timefmt.nanos(), "stdout", "first"))
    done = threading.Event()

    def produce() -> None:
        time.sleep(0.3)
        write(path, (timefmt.nanos(), "stdout", "second"))
        done.set()

    threading.Thread(target=produce).start()
    chunks = list(read_log(path, LogOptions(follow=True), finished=done.is_set, poll_s=0.02))
    assert b"".join(chunks) == b"first\nsecond\n"


def test_parse_log_query() -> None:
    options, previous = parse_log_query(
        {"follow": ["true"], "tailLines": ["5"], "sinceSeconds": ["10"], "timestamps": ["1"]}, 100 * 10**9
    )
    assert options == LogOptions(follow=True, tail_lines=5, since_ns=90 * 10**9, timestamps=True)
    assert previous is False
    with pytest.raises(LogNotAvailable, match="tailLines"):
        parse_log_query({"tailLines": ["x"]}, 0)


def test_index_locates_current_and_previous(tmp_path: Path) -> None:
    index = LogIndex(tmp_path)
    key = PodKey("ns", "p", "u1")
    with pytest.raises(LogNotAvailable, match="waiting to start"):
        index.locate("ns", "p", "c", previous=False)
    first, done0 = index.started(key, "c", 0)
    write(first, (timefmt.nanos(), "stdout", "x"))
    path, finished = index.locate("ns", "p", "c", previous=False)
    assert path == first and not finished()
    done0.set()
    with pytest.raises(LogNotAvailable, match="previous terminated container"):
        index.locate("ns", "p", "c", previous=True)
    second, _ = index.started(key, "c", 1)
    write(second, (timefmt.nanos(), "stdout", "y"))
    assert index.locate("ns", "p", "c", previous=True)[0] == first
    # a fresh index (kubelet restart) finds the files on disk, finished
    path, finished = LogIndex(tmp_path).locate("ns", "p", "c", previous=False)
    assert path == second and finished()


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubelet")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_file), str(key_file)


def test_https_server_serves_and_follows(tmp_path: Path, tls_files: tuple[str, str]) -> None:
    index = LogIndex(tmp_path / "pods")
    path, done = index.started(PodKey("ns", "p", "u"), "c", 0)
    write(path, (timefmt.nanos(), "stdout", "hello"))
    server = LogServer(port=0, cert_file=tls_files[0], key_file=tls_files[1], index=index)
    server.start()
    try:
        port = server.port
        context = ssl._create_unverified_context()
        base = f"https://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/healthz", context=context) as reply:
            assert reply.read() == b"ok"
        threading.Timer(0.3, lambda: (write(path, (timefmt.nanos(), "stdout", "bye")), done.set())).start()
        with urllib.request.urlopen(f"{base}/containerLogs/ns/p/c?follow=true", context=context) as reply:
            assert reply.read() == b"hello\nbye\n"
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{base}/containerLogs/ns/p/other", context=context)
        assert caught.value.code == 400
    finally:
        server.stop()


@given(
    lines=st.lists(st.binary(max_size=40).filter(lambda b: b"\n" not in b), max_size=20),
    tail=st.one_of(st.none(), st.integers(min_value=0, max_value=25)),
)
def test_written_lines_read_back_exactly(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes], tail: int | None
) -> None:
    path = tmp_path_factory.mktemp("logs") / "0.log"
    writer = LogWriter(path)
    writer.attach(io.BytesIO(b"".join(line + b"\n" for line in lines)), "stdout")
    writer.close()
    expected = lines if tail is None else (lines[-tail:] if tail else [])
    got = b"".join(read_log(path, LogOptions(tail_lines=tail), finished=lambda: True))
    assert got == b"".join(line + b"\n" for line in expected)
