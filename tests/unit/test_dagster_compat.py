"""The installed Dagster is one we support, and the private API we use is still where we use it.

A Dagster release outside the supported range fails here first, naming the range, rather than as an
`ImportError` or a silently skipped override inside a run worker.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import re

import dagster
import pytest

from dagster_ext import dagster_compat
from dagster_ext.dagster_compat import step_delegating

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "dagster_ext"
COMPAT_MODULES = ("runs", "definitions", "step_delegating", "launching", "logs", "pipes")


def _pyproject_range() -> tuple[tuple[int, int], tuple[int, int]]:
    # the one `"dagster>=…,<…"` line of [project] dependencies (tomllib is Python 3.11+)
    (spec,) = re.findall(r'^\s*"(dagster\s*[<>=][^"]*)"', (ROOT / "pyproject.toml").read_text(), re.M)
    low = re.search(r">=\s*(\d+)\.(\d+)", spec)
    high = re.search(r"<\s*(\d+)\.(\d+)", spec)
    assert low and high, f"pyproject's dagster dependency {spec!r} needs a >= and a < bound"
    return (int(low[1]), int(low[2])), (int(high[1]), int(high[2]))


def test_supported_range_is_the_one_pyproject_declares() -> None:
    assert _pyproject_range() == dagster_compat.SUPPORTED_DAGSTER


def test_installed_dagster_is_supported() -> None:
    reason = dagster_compat.unsupported_reason(dagster.__version__)
    if reason is not None:
        pytest.fail(f"UNSUPPORTED DAGSTER: {reason}", pytrace=False)


@pytest.mark.parametrize(
    ("version", "supported"),
    [
        ("1.11.0", True),
        ("1.13.27", True),
        ("1.14.0rc1", False),
        ("1.14.0", False),
        ("1.10.21", False),
        ("2.0.0", False),
        ("1!0+dev", False),
    ],
)
def test_unsupported_reason(version: str, supported: bool) -> None:
    assert (dagster_compat.unsupported_reason(version) is None) is supported


@pytest.mark.parametrize("name", COMPAT_MODULES)
def test_every_private_name_resolves(name: str) -> None:
    module = importlib.import_module(f"dagster_ext.dagster_compat.{name}")
    missing = [attr for attr in module.__all__ if not hasattr(module, attr)]
    assert not missing, f"dagster {dagster.__version__} lacks {missing}"


def test_overridden_private_members_keep_their_shape() -> None:
    members = {(cls, member) for cls, member, _ in step_delegating.OVERRIDDEN_PRIVATE_MEMBERS}
    executor = step_delegating.StepDelegatingExecutor
    assert members == {(executor, "_pop_events"), (executor, "_sleep_seconds")}
    params = list(inspect.signature(executor._pop_events).parameters)
    assert params == ["self", "instance", "run_id", "seen_storage_ids"], params
    assert "self._sleep_seconds =" in inspect.getsource(executor.__init__)
    assert "time.sleep(self._sleep_seconds)" in inspect.getsource(executor.execute)


def _private_imports(path: pathlib.Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        if any(name.startswith("dagster._") for name in names):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_only_the_compatibility_package_imports_private_dagster() -> None:
    compat = PACKAGE / "dagster_compat"
    offenders = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        if compat not in path.parents
        for hit in _private_imports(path)
    ]
    assert not offenders, f"import these through dagster_ext.dagster_compat: {offenders}"
