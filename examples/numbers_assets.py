"""The seed's `numbers` asset group and `process_numbers_asset` job (seed 002 Code 2, seed 001 §1.1)."""

from __future__ import annotations

from typing import Any

from dagster import AssetSelection, asset, define_asset_job

from dagster_ext.k8s import k8s_job_executor
from examples.numbers_ops import SEED_RESOURCES

_OP_TAGS: dict[str, Any] = {"dagster-k8s/config": {"container_config": {"resources": SEED_RESOURCES}}}
_COMMON: dict[str, Any] = {"key_prefix": ["examples"], "group_name": "numbers", "kinds": {"python"}}


@asset(description="Generated a list of numbers from 1 to 10", op_tags=_OP_TAGS, **_COMMON)
def generated_numbers() -> list[int]:
    return list(range(1, 11))


@asset(description="Filtered even numbers from the list", op_tags=_OP_TAGS, **_COMMON)
def filtered_even_numbers(generated_numbers: list[int]) -> list[int]:
    return [num for num in generated_numbers if num % 2 == 0]


@asset(description="Filtered odd numbers from the list", op_tags=_OP_TAGS, **_COMMON)
def filtered_odd_numbers(generated_numbers: list[int]) -> list[int]:
    return [num for num in generated_numbers if num % 2 != 0]


@asset(description="Summed the even numbers", op_tags=_OP_TAGS, **_COMMON)
def summed_even_numbers(filtered_even_numbers: list[int]) -> int:
    return sum(filtered_even_numbers)


@asset(description="Summed the odd numbers", op_tags=_OP_TAGS, **_COMMON)
def summed_odd_numbers(filtered_odd_numbers: list[int]) -> int:
    return sum(filtered_odd_numbers)


@asset(description="Summed the two sums", op_tags=_OP_TAGS, **_COMMON)
def summed_two_sums(summed_even_numbers: int, summed_odd_numbers: int) -> int:
    return summed_even_numbers + summed_odd_numbers


NUMBER_ASSETS = [
    generated_numbers,
    filtered_even_numbers,
    filtered_odd_numbers,
    summed_even_numbers,
    summed_odd_numbers,
    summed_two_sums,
]

PROCESS_NUMBERS_ASSET_TAGS: dict[str, Any] = {
    "domain": "numbers",
    "dagster-k8s/config": {
        "container_config": {"resources": SEED_RESOURCES},
        "pod_spec_config": {"node_selector": {"node-group.dp.ssup2": "worker"}},
    },
}

process_numbers_asset = define_asset_job(
    name="process_numbers_asset",
    selection=AssetSelection.groups("numbers"),
    tags=PROCESS_NUMBERS_ASSET_TAGS,
)

process_numbers_asset_k8s = define_asset_job(
    name="process_numbers_asset_k8s",
    description="The numbers assets, each in its own K8s Job",
    selection=AssetSelection.groups("numbers"),
    tags=PROCESS_NUMBERS_ASSET_TAGS,
    executor_def=k8s_job_executor,
)
