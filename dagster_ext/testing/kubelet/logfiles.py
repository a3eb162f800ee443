"""Container logs on disk in the CRI format, and reading them back the way the kubelet serves them.

Each line is stored as `<RFC3339Nano> <stream> <F|P> <content>` (F: full line, P: a partial line
without its newline), so `timestamps`, `sinceSeconds` and `tailLines` can be honoured later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from dagster_ext.testing.kubelet import timefmt

MAX_LINE_BYTES = 16 * 1024


@dataclass(frozen=True)
class LogEntry:
    timestamp: str
    stream: str
    full: bool
    content: bytes

    @classmethod
    def parse(cls, line: bytes) -> LogEntry | None:
        parts = line.rstrip(b"\n").split(b" ", 3)
        if len(parts) < 3:
            return None
        content = parts[3] if len(parts) == 4 else b""
        return cls(parts[0].decode(), parts[1].decode(), parts[2] == b"F", content)

    def render(self, *, timestamps: bool) -> bytes:
        prefix = self.timestamp.encode() + b" " if timestamps else b""
        return prefix + self.content + (b"\n" if self.full else b"")


class LogWriter:
    """Copies a process's stdout and stderr pipes into one CRI-format file, line by line."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("ab")
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def attach(self, pipe: IO[bytes], stream: str) -> None:
        thread = threading.Thread(target=self._pump, args=(pipe, stream), name=f"log-{stream}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _pump(self, pipe: IO[bytes], stream: str) -> None:
        with pipe:
            while chunk := pipe.readline(MAX_LINE_BYTES):
                full = chunk.endswith(b"\n")
                self.write(stream, chunk[:-1] if full else chunk, full=full)

    def write(self, stream: str, content: bytes, *, full: bool = True) -> None:
        line = f"{timefmt.nanos()} {stream} {'F' if full else 'P'} ".encode() + content + b"\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()

    def close(self, timeout_s: float = 5.0) -> None:
        """Wait for the pipes to drain (they close when the process tree is gone)."""
        for thread in self._threads:
            thread.join(timeout_s)
        with self._lock:
            self._file.close()


@dataclass(frozen=True)
class LogOptions:
    follow: bool = False
    tail_lines: int | None = None
    since_ns: int | None = None
    timestamps: bool = False
    limit_bytes: int | None = None


def _keep(entry: LogEntry, options: LogOptions) -> bool:
    if options.since_ns is None:
        return True
    try:
        return timefmt.parse_ns(entry.timestamp) >= options.since_ns
    except ValueError:
        return True


def _complete_lines(handle: IO[bytes], pending: bytearray) -> Iterator[bytes]:
    """Whole lines appended since the last call; a trailing half-written line waits in `pending`."""
    while chunk := handle.readline():
        pending.extend(chunk)
        if pending.endswith(b"\n"):
            yield bytes(pending)
            pending.clear()


def _initial(handle: IO[bytes], pending: bytearray, options: LogOptions) -> list[LogEntry]:
    entries = [e for line in _complete_lines(handle, pending) if (e := LogEntry.parse(line))]
    entries = [e for e in entries if _keep(e, options)]
    if options.tail_lines is not None:
        entries = entries[-options.tail_lines :] if options.tail_lines > 0 else []
    return entries


def read_log(
    path: Path,
    options: LogOptions,
    *,
    finished: Callable[[], bool],
    poll_s: float = 0.1,
    stopped: Callable[[], bool] = lambda: False,
) -> Iterator[bytes]:
    """The log as the kubelet serves it; with `follow`, until the container has finished."""
    return limited(_read(path, options, finished, poll_s, stopped), options.limit_bytes)


def _read(
    path: Path, options: LogOptions, finished: Callable[[], bool], poll_s: float, stopped: Callable[[], bool]
) -> Iterator[bytes]:
    pending = bytearray()
    with path.open("rb") as handle:
        yield from _render(_initial(handle, pending, options), options)
        while options.follow and not stopped():
            done = finished()  # read once more after the writer finished: nothing is lost
            entries = [e for line in _complete_lines(handle, pending) if (e := LogEntry.parse(line))]
            yield from _render(entries, options)
            if done:
                return
            time.sleep(poll_s)


def _render(entries: Iterable[LogEntry], options: LogOptions) -> Iterator[bytes]:
    for entry in entries:
        if _keep(entry, options):
            yield entry.render(timestamps=options.timestamps)


def limited(chunks: Iterable[bytes], limit_bytes: int | None) -> Iterator[bytes]:
    """Stop after `limit_bytes` bytes in total (the last chunk is cut)."""
    if limit_bytes is None:
        yield from chunks
        return
    left = limit_bytes
    for chunk in chunks:
        if left <= 0:
            return
        yield chunk[:left]
        left -= len(chunk)
