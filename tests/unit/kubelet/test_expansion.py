"""`$(VAR)` expansion: the cases of Kubernetes' own expansion tests, plus properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dagster_ext.testing.kubelet.expansion import expand, mapping_for

ENV = {"VAR_A": "A", "VAR_B": "B", "VAR_C": "C", "VAR_REF": "$(VAR_A)", "VAR_EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(VAR_A)", "A"),
        ("___$(VAR_B)___", "___B___"),
        ("$(VAR_A)-$(VAR_A)", "A-A"),
        ("$(VAR_A)$(VAR_B)$(VAR_C)", "ABC"),
        ("$(VAR_DOES_NOT_EXIST)", "$(VAR_DOES_NOT_EXIST)"),
        ("$$(VAR_A)", "$(VAR_A)"),  # escaped
        ("$$$(VAR_A)", "$A"),
        ("$$$$(VAR_A)", "$$(VAR_A)"),
        ("$(VAR_REF)", "$(VAR_A)"),  # no recursion
        ("$(VAR_EMPTY)", ""),
        ("$(VAR_A", "$(VAR_A"),  # incomplete reference
        ("$VAR_A", "$VAR_A"),  # not an expression
        ("$", "$"),
        ("foo$", "foo$"),
    ],
)
def test_kubernetes_cases(text: str, expected: str) -> None:
    assert expand(text, mapping_for(ENV)) == expected


def test_empty_name_is_kept() -> None:
    assert expand("$()", mapping_for(ENV)) == "$()"


def test_contexts_are_searched_in_order() -> None:
    assert expand("$(X)", mapping_for({"X": "first"}, {"X": "second"})) == "first"
    assert expand("$(Y)", mapping_for({"X": "first"}, {"Y": "second"})) == "second"


@given(st.text(alphabet=st.characters(blacklist_characters="$")))
def test_text_without_operator_is_unchanged(text: str) -> None:
    assert expand(text, mapping_for(ENV)) == text


@given(st.text(alphabet=st.characters(blacklist_characters="$()")))
def test_escaped_operator_yields_literal_reference(name: str) -> None:
    assert expand(f"$$({name})", mapping_for({name: "value"})) == f"$({name})"


@given(st.from_regex(r"[A-Z_][A-Z0-9_]*", fullmatch=True), st.text())
def test_defined_variable_is_replaced(name: str, value: str) -> None:
    assert expand(f"<$({name})>", mapping_for({name: value})) == f"<{value}>"
