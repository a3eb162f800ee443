"""docs/troubleshooting.md is rendered from the taxonomy; this fails when someone forgot to
re-render it after changing a reason."""

from __future__ import annotations

from pathlib import Path

from dagster_ext.k8s.status import TAXONOMY, FailureReason
from dagster_ext.k8s.status.docs import DEFAULT_PATH, main, render


def test_the_page_is_up_to_date() -> None:
    assert DEFAULT_PATH.read_text() == render(), "run: python -m dagster_ext.k8s.status.docs"


def test_every_reason_has_a_section_with_meaning_and_hint() -> None:
    page = render()
    for reason in FailureReason:
        assert f"\n#### {reason.value}\n" in page
        assert TAXONOMY[reason].meaning in page and TAXONOMY[reason].hint in page


def test_check_mode_reports_a_stale_file_and_writes_nothing(tmp_path: Path) -> None:
    stale = tmp_path / "troubleshooting.md"
    stale.write_text("old\n")
    assert main([str(stale), "--check"]) == 1
    assert stale.read_text() == "old\n"
    assert main([str(stale)]) == 0 and main([str(stale), "--check"]) == 0
