"""API timestamp formats: seconds (metav1.Time), microseconds (MicroTime), nanoseconds (logs)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$")


def utc_now() -> datetime:
    return datetime.now(UTC)


def seconds(moment: datetime | None = None) -> str:
    return (moment or utc_now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def micros(moment: datetime | None = None) -> str:
    return (moment or utc_now()).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def nanos(epoch_ns: int | None = None) -> str:
    """RFC3339Nano with all nine digits, as the CRI log format writes it."""
    ns = time.time_ns() if epoch_ns is None else epoch_ns
    whole, fraction = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{fraction:09d}Z"


def parse_ns(text: str) -> int:
    """Epoch nanoseconds of an RFC3339 timestamp with up to nine fractional digits."""
    match = _RFC3339.match(text.strip().upper())
    if not match:
        raise ValueError(f"not an RFC3339 timestamp: {text!r}")
    base, fraction, zone = match.groups()
    moment = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    return int(moment.timestamp()) * 1_000_000_000 + int((fraction or "0")[:9].ljust(9, "0"))
