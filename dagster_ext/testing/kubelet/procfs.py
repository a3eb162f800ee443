"""Reading /proc: process sessions, start times and resident memory, for kills and RSS limits."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    pgrp: int
    session: int
    start_ticks: int
    rss_bytes: int


def read_stat(pid: int) -> ProcStat | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    if len(fields) < 22 or fields[0] == "Z":
        return None  # zombies hold no memory and cannot be killed twice
    return ProcStat(
        pid, int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19]), int(fields[21]) * _PAGE
    )


def all_processes() -> Iterator[ProcStat]:
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := read_stat(int(entry))) is not None:
            yield stat


def session_members(session: int) -> list[ProcStat]:
    """Processes of the session a container's main process leads (its whole tree, unless a
    descendant called setsid)."""
    return [p for p in all_processes() if p.session == session]


def kill_all(pids: Iterable[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
