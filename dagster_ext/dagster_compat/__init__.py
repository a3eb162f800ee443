"""Every use of Dagster's private API (`dagster._*`) goes through this package.

Why: Dagster promises stability only for what `dagster` exports at the top level; the executors,
the run launcher and the Celery workers also need its internals (the step-delegating loop, step
handlers, run and step arguments, plan execution, compute log managers). Kept here, a Dagster
upgrade that moves or renames one of them breaks one import in one place, and the compatibility
test (`tests/unit/test_dagster_compat.py`) names it, instead of an `ImportError` deep in a run
worker. The modules are split by what importing them costs, so that a process that needs only the
cheap part (the launcher, the CLI) does not pay for the rest:

- `runs`: runs, instances, events, errors, serialization (loaded with `dagster` itself);
- `definitions`: code locations, execution plans, executor plumbing (loaded with `dagster` too);
- `step_delegating`: the step-delegating executor and step handlers (~80 ms more);
- `launching`: run launcher classes and the run worker's arguments (Dagster's CLI module);
- `logs`: compute log capture;
- `pipes`: the marker that makes a Pipes client an asset parameter.

`SUPPORTED_DAGSTER` is the range of Dagster releases these imports are tested against; it matches
the `dagster` dependency in pyproject.toml.
"""

from __future__ import annotations

import re

# (first supported minor release, first unsupported one), as `dagster>=1.11,<1.14` in pyproject.toml
SUPPORTED_DAGSTER: tuple[tuple[int, int], tuple[int, int]] = ((1, 11), (1, 14))


def dagster_release(version: str) -> tuple[int, int] | None:
    """The (major, minor) of a Dagster version string; None for one that names no release, such as
    the `1!0+dev` of a source checkout."""
    match = re.match(r"^(\d+)\.(\d+)(?!\d)", version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def unsupported_reason(version: str) -> str | None:
    """Why this package does not support a Dagster version, or None when it does."""
    release = dagster_release(version)
    low, high = SUPPORTED_DAGSTER
    if release is None:
        return f"dagster {version!r} names no release; supported: >={low[0]}.{low[1]},<{high[0]}.{high[1]}"
    if not low <= release < high:
        return (
            f"dagster {version} is outside the supported range >={low[0]}.{low[1]},<{high[0]}.{high[1]}: "
            "the private Dagster modules dagster_ext.dagster_compat imports may have moved"
        )
    return None
