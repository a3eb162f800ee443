"""The seed's `process_numbers` op job (seed 002 Code 1, seed 001 §1.1-1.2).

Resources come from `dagster-k8s/config` tags: the job tag sizes the run pod, each op tag sizes its
step pod, limited to 2000m / 4096Mi. The requests are smaller than the limits so that the run pod
and its parallel step pods fit on a two-core node (a laptop's, or the local test cluster's); on a
production cluster, raise them to the limits for Guaranteed pods. The node selector is not set
here: the run launcher config sets it, and step pods inherit it from the run pod.
"""

from __future__ import annotations

from typing import Any

from dagster import job, op

from dagster_ext.celery import celery_queue_executor
from dagster_ext.k8s import k8s_job_executor

SEED_RESOURCES: dict[str, Any] = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"cpu": "2000m", "memory": "4096Mi"},
}
STEP_TAGS: dict[str, Any] = {
    "domain": "numbers",
    "dagster-k8s/config": {"container_config": {"resources": SEED_RESOURCES}},
}


@op(description="Generate a list of numbers from 1 to 10", tags=STEP_TAGS)
def generate_numbers() -> list[int]:
    return list(range(1, 11))


@op(description="Filter even numbers from the list", tags=STEP_TAGS)
def filter_even_numbers(numbers: list[int]) -> list[int]:
    return [num for num in numbers if num % 2 == 0]


@op(description="Filter odd numbers from the list", tags=STEP_TAGS)
def filter_odd_numbers(numbers: list[int]) -> list[int]:
    return [num for num in numbers if num % 2 != 0]


@op(description="Calculate the sum of the given list of even numbers", tags=STEP_TAGS)
def sum_even_numbers(numbers: list[int]) -> int:
    return sum(numbers)


@op(description="Calculate the sum of the given list of odd numbers", tags=STEP_TAGS)
def sum_odd_numbers(numbers: list[int]) -> int:
    return sum(numbers)


@op(description="Sum the two numbers", tags=STEP_TAGS)
def sum_two_sums(first_number: int, second_number: int) -> int:
    return first_number + second_number


def _process_numbers_graph() -> None:
    numbers = generate_numbers()
    even_sum = sum_even_numbers(filter_even_numbers(numbers))
    odd_sum = sum_odd_numbers(filter_odd_numbers(numbers))
    sum_two_sums(even_sum, odd_sum)


PROCESS_NUMBERS_TAGS: dict[str, Any] = {
    "domain": "numbers",
    "dagster-k8s/config": {"container_config": {"resources": SEED_RESOURCES}},
}


@job(
    description="Process numbers",
    tags=PROCESS_NUMBERS_TAGS,
)
def process_numbers() -> None:
    _process_numbers_graph()


@job(
    name="process_numbers_k8s",
    description="Process numbers, each op in its own K8s Job (seed 001 §1.2)",
    tags=PROCESS_NUMBERS_TAGS,
    executor_def=k8s_job_executor,
)
def process_numbers_k8s() -> None:
    _process_numbers_graph()


@job(
    name="process_numbers_celery",
    description="Process numbers, each op as a Celery task on a warm worker (seed 001 §1.3)",
    tags=PROCESS_NUMBERS_TAGS,
    executor_def=celery_queue_executor,
)
def process_numbers_celery() -> None:
    _process_numbers_graph()
