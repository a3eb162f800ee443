"""The seed's code location: load with `dagster api grpc -f examples/definitions.py`
(or `-m examples.definitions`) from the repository root.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `dagster api grpc -f` imports this file by path; make `examples.*` importable either way.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from dagster import Definitions  # noqa: E402

from examples.numbers_assets import (  # noqa: E402
    NUMBER_ASSETS,
    process_numbers_asset,
    process_numbers_asset_k8s,
)
from examples.numbers_ops import (  # noqa: E402
    process_numbers,
    process_numbers_celery,
    process_numbers_k8s,
)
from examples.words_k8s import process_words_k8s_job  # noqa: E402

defs = Definitions(
    assets=NUMBER_ASSETS,
    jobs=[
        process_numbers,
        process_numbers_k8s,
        process_numbers_celery,
        process_numbers_asset,
        process_numbers_asset_k8s,
        process_words_k8s_job,
    ],
)
