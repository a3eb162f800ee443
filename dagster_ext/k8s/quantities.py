"""Kubernetes resource quantities (`500m`, `4096Mi`, `1.5`, `2e3`).

A malformed quantity is only rejected by the API server when the Job is created, long after the
run was queued; checking the syntax here turns that into a config error with the key path.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

# The canonical grammar from k8s.io/apimachinery/pkg/api/resource (signed number + suffix).
_QUANTITY_RE = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?P<suffix>[eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE])?\Z"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def quantity_problem(value: object) -> str | None:
    """Why `value` is not a valid non-negative quantity, or None if it is.

    Numbers are accepted because YAML users write `cpu: 2`, and the API server decodes a JSON
    number into a Quantity just like the string `"2"`.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return f"expected a quantity such as '500m' or '1Gi', got {type(value).__name__}"
    if isinstance(value, float) and not math.isfinite(value):
        return "not a valid quantity (examples: '500m', '2', '4096Mi', '1Gi')"
    text = str(value)
    if not _QUANTITY_RE.match(text):
        return "not a valid quantity (examples: '500m', '2', '4096Mi', '1Gi')"
    if parse_quantity(text) < 0:
        return "negative; resource quantities must be >= 0"
    return None


def is_quantity(value: object) -> bool:
    return quantity_problem(value) is None


def parse_quantity(value: str | int | float) -> Decimal:
    """The quantity's value in base units (cores, bytes), for comparing requests with limits."""
    match = _QUANTITY_RE.match(str(value))
    if match is None:
        raise ValueError(f"{value!r} is not a valid quantity")
    number = Decimal(match.group("number"))
    suffix = match.group("suffix") or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix[:1] in ("e", "E"):
        return number * Decimal(10) ** int(suffix[1:])
    return number * _DECIMAL[suffix]
