"""docs/configuration.md is rendered from the config schemas; a schema change without a new
rendering fails here, so the reference users read cannot drift from what the code checks."""

from __future__ import annotations

from pathlib import Path

from dagster_ext.cli import config_reference

REFERENCE = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def test_the_reference_is_current() -> None:
    assert REFERENCE.read_text(encoding="utf8") == config_reference.render(), (
        f"{REFERENCE} is stale: run `{config_reference.REGENERATE}`"
    )


def test_every_schema_key_is_in_the_reference() -> None:
    text = config_reference.render()
    for section in config_reference.sections():
        for key in section.schema:
            assert f"| `{key}` |" in text, (section.title, key)


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text("# old\n", encoding="utf8")
    assert config_reference.main(["--check", "--output", str(stale)]) == 1
    assert config_reference.main(["--output", str(stale)]) == 0
    assert config_reference.main(["--check", "--output", str(stale)]) == 0
