"""A schema check answered yes is not asked again; a no is (a migration may add the column)."""

from __future__ import annotations

from dagster_ext.celery.pooling import SCHEMA_CHECKS, remember_schema_checks


class FakeStorage:
    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.asked = 0

    def has_run_stats_index_cols(self) -> bool:
        self.asked += 1
        return self.answer


def test_a_yes_is_remembered() -> None:
    storage = FakeStorage(True)
    remember_schema_checks(storage)
    assert [storage.has_run_stats_index_cols() for _ in range(5)] == [True] * 5
    assert storage.asked == 1


def test_a_no_is_asked_again_until_a_migration_says_yes() -> None:
    storage = FakeStorage(False)
    remember_schema_checks(storage)
    assert storage.has_run_stats_index_cols() is False
    assert storage.has_run_stats_index_cols() is False
    storage.answer = True  # `dagster instance migrate` added the columns
    assert storage.has_run_stats_index_cols() is True
    assert storage.has_run_stats_index_cols() is True
    assert storage.asked == 3


def test_applied_twice_asks_once_and_skips_missing_checks() -> None:
    storage = FakeStorage(True)
    remember_schema_checks(storage)
    remember_schema_checks(storage)  # a second instance for the same storage object
    storage.has_run_stats_index_cols()
    storage.has_run_stats_index_cols()
    assert storage.asked == 1
    assert "has_run_stats_index_cols" in SCHEMA_CHECKS
    assert not hasattr(storage, "has_backfill_id_column")  # checks the storage lacks stay absent
