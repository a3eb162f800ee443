from __future__ import annotations

from decimal import Decimal

import pytest

from dagster_ext.testing.kubelet.quantity import QuantityError, divide_ceil, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("64Mi", Decimal(64 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        ("1k", Decimal(1000)),
        ("1e3", Decimal(1000)),
        ("1.5G", Decimal(1_500_000_000)),
        (3, Decimal(3)),
    ],
)
def test_parse(text: str | int, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "Mi", "12XB", "1.2.3"])
def test_invalid(text: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


def test_divide_ceil_like_resource_field_ref() -> None:
    assert divide_ceil(parse_quantity("500m"), parse_quantity("1")) == "1"
    assert divide_ceil(parse_quantity("500m"), parse_quantity("1m")) == "500"
    assert divide_ceil(parse_quantity("64Mi"), parse_quantity("1Mi")) == "64"
