"""A claims URL the store cannot use is named by its key, never echoed (it may hold a password)."""

from __future__ import annotations

import pytest

from dagster_ext.celery.claims import ClaimStoreError, open_claim_store


def test_an_unsupported_claims_url_names_the_key_not_the_value() -> None:
    secret_url = "postgres://admin:hunter2@db:5432/claims"
    with pytest.raises(ClaimStoreError) as raised:
        open_claim_store(secret_url)
    assert "claims_url" in str(raised.value)
    assert "hunter2" not in str(raised.value)
    assert secret_url not in str(raised.value)
