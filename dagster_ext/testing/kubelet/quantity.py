"""Kubernetes resource quantities ("64Mi", "500m", "1e3") as exact decimals."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from dagster_ext.errors import DagsterExtError

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
}
_PATTERN = re.compile(r"^([+-]?[0-9.]+)((?:[eE][+-]?[0-9]+)|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$")


class QuantityError(DagsterExtError, ValueError):
    """A resource quantity string is not valid Kubernetes syntax."""


def parse_quantity(text: str | int | float) -> Decimal:
    """The value of a quantity in base units (bytes, cores)."""
    if isinstance(text, int | float):
        return Decimal(str(text))
    match = _PATTERN.match(text.strip())
    if not match:
        raise QuantityError(f"invalid resource quantity {text!r}: expected e.g. '64Mi', '500m', '2'")
    number, suffix = match.groups()
    try:
        value = Decimal(number)
    except InvalidOperation as err:
        raise QuantityError(f"invalid resource quantity {text!r}") from err
    if suffix in _BINARY:
        return value * _BINARY[suffix]
    if suffix in _DECIMAL:
        return value * _DECIMAL[suffix]
    return value * (Decimal(10) ** int(suffix[1:]))


def to_int_ceil(value: Decimal) -> int:
    return math.ceil(value)


def divide_ceil(value: Decimal, divisor: Decimal) -> str:
    """`resourceFieldRef` semantics: ceil(value / divisor) as an integer string."""
    if divisor <= 0:
        raise QuantityError(f"resourceFieldRef divisor must be positive, got {divisor}")
    return str(math.ceil(value / divisor))
