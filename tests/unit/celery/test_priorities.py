from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dagster_ext.celery.priorities import BrokerKind, broker_kind, broker_priority


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("redis://h:6379/0", BrokerKind.REDIS),
        ("rediss://h", BrokerKind.REDIS),
        ("pyamqp://guest@h//", BrokerKind.AMQP),
        ("amqp://h", BrokerKind.AMQP),
        ("filesystem://", BrokerKind.FILESYSTEM),
        ("sqs://", BrokerKind.OTHER),
    ],
)
def test_broker_kind(url: str, kind: BrokerKind) -> None:
    assert broker_kind(url) is kind


def test_redis_is_inverted_amqp_is_not_filesystem_has_none() -> None:
    assert broker_priority(9, BrokerKind.REDIS) == 0  # Redis serves 0 first
    assert broker_priority(0, BrokerKind.REDIS) == 9
    assert broker_priority(9, BrokerKind.AMQP) == 9
    assert broker_priority(5, BrokerKind.FILESYSTEM) is None


@given(st.integers(-50, 50), st.integers(-50, 50))
def test_more_urgent_is_served_first_on_every_broker(a: int, b: int) -> None:
    if a <= b:
        a, b = b, a  # a is at least as urgent
    redis_a, redis_b = broker_priority(a, BrokerKind.REDIS), broker_priority(b, BrokerKind.REDIS)
    amqp_a, amqp_b = broker_priority(a, BrokerKind.AMQP), broker_priority(b, BrokerKind.AMQP)
    assert redis_a is not None and redis_b is not None and redis_a <= redis_b
    assert amqp_a is not None and amqp_b is not None and amqp_a >= amqp_b
    assert 0 <= redis_a <= 9 and 0 <= amqp_a <= 9
