"""Validate raw Kubernetes config against the generated model table and normalise it to camelCase.

Users write `dagster-k8s/config` in either snake_case (the Python client's spelling, used in
dagster-k8s docs) or camelCase (the manifest spelling). We render plain-dict manifests, so
everything is normalised to camelCase once, here, and every later stage sees one spelling.

All problems of one input are collected, so a user fixes a tag in one round trip, not five.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from dagster_ext.errors import ConfigError
from dagster_ext.k8s.spec import checks
from dagster_ext.k8s.spec._k8s_schema import MODELS, REQUIRED
from dagster_ext.k8s.spec.checks import describe
from dagster_ext.k8s.spec.named_lists import duplicate_reason, duplicates
from dagster_ext.k8s.spec.object_rules import int_range_problem, object_problems

_LIST_RE = re.compile(r"^list\[(.+)\]\Z")
_DICT_RE = re.compile(r"^dict\[str, (.+)\]\Z")
_PLAIN_KEY_RE = re.compile(r"^[A-Za-z0-9_]+\Z")
_PRIMITIVE_NAMES = {"str": "a string", "int": "an integer", "bool": "true or false", "float": "a number"}


@dataclass(frozen=True)
class Problem:
    path: str
    reason: str


@dataclass
class Problems:
    """Collects every problem of one input; raised as one `ConfigError`, one line per problem."""

    items: list[Problem] = field(default_factory=list)

    def add(self, path: str, reason: str) -> None:
        self.items.append(Problem(path, reason))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        first, *rest = self.items
        extra = "".join(f"\n{problem.path}: {problem.reason}" for problem in rest)
        raise ConfigError(first.reason + extra, path=first.path)


def child_path(parent: str, key: str) -> str:
    """`a.b` for plain keys, `a[node-group.dp.ssup2]` for keys that contain dots or slashes."""
    if _PLAIN_KEY_RE.match(key):
        return f"{parent}.{key}" if parent else key
    return f"{parent}[{key}]"


@cache
def _camel_index(model: str) -> dict[str, str]:
    """camelCase (and snake_case) spelling -> snake_case field name."""
    fields = MODELS[model]
    index = {snake: snake for snake in fields}
    index.update({camel: snake for snake, (camel, _) in fields.items()})
    return index


def suggest(key: str, candidates: list[str]) -> str | None:
    """The closest candidate, or one that differs only in case (`NodeSelector`)."""
    lowered = {candidate.lower(): candidate for candidate in candidates}
    if key.lower() in lowered:
        return lowered[key.lower()]
    matches = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _suggest_field(model: str, key: str) -> str:
    fields = MODELS[model]
    snake_style = "_" in key
    candidates = [snake if snake_style else camel for snake, (camel, _) in fields.items()]
    match = suggest(key, candidates) or suggest(key, [*fields, *(camel for camel, _ in fields.values())])
    return f"unknown field; did you mean {match!r}?" if match else f"unknown field of {model}"


def resolve_field(model: str, key: str) -> tuple[str, str, str] | None:
    """(snake, camel, OpenAPI type) of `key` in `model`, accepting either spelling."""
    snake = _camel_index(model).get(key)
    if snake is None:
        return None
    camel, openapi_type = MODELS[model][snake]
    return snake, camel, openapi_type


def normalise_object(
    value: object, model: str, *, path: str, problems: Problems, check_required: bool = True
) -> dict[str, Any]:
    """Validate one Kubernetes object; returns it with camelCase keys (invalid parts dropped)."""
    if not isinstance(value, Mapping):
        problems.add(path, f"expected a mapping of {model} fields, got {describe(value)}")
        return {}
    result: dict[str, Any] = {}
    seen: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            problems.add(path, f"keys must be strings, got {describe(key)}")
            continue
        item_path = child_path(path, key)
        resolved = resolve_field(model, key)
        if resolved is None:
            problems.add(item_path, _suggest_field(model, key))
            continue
        snake, camel, _ = resolved
        if snake in seen:
            problems.add(item_path, f"both {seen[snake]!r} and {key!r} given; keep one")
            continue
        seen[snake] = key
        result[camel] = normalise_field(model, snake, item, path=item_path, problems=problems)
    if check_required:
        _check_required(model, seen, result, path=path, problems=problems)
    for child, reason in object_problems(model, result):
        problems.add(child_path(path, child) if child else path, reason)
    return result


def _check_required(
    model: str, seen: Mapping[str, str], result: Mapping[str, Any], *, path: str, problems: Problems
) -> None:
    """A required field set to null is missing too: null means "unset", and the item would be
    rendered without it (a nameless env var or volume)."""
    for snake in sorted(REQUIRED.get(model, frozenset())):
        camel = MODELS[model][snake][0]
        if snake not in seen:
            problems.add(child_path(path, camel), f"required field of {model} is missing")
        elif result.get(camel) is None:
            problems.add(child_path(path, camel), f"required field of {model} must not be null")


def normalise_field(model: str, snake: str, value: object, *, path: str, problems: Problems) -> Any:
    """Type-check one field (null means unset and is kept) and apply its semantic checks."""
    if value is None:
        return None
    special = checks.special_check(model, snake)
    if special is not None:
        for problem_path, problem in special(value, path):
            problems.add(problem_path, problem)
        return value
    camel, openapi_type = MODELS[model][snake]
    normalised = normalise_value(value, openapi_type, path=path, problems=problems)
    if isinstance(normalised, list):
        for index, first in duplicates(camel, normalised):
            problems.add(f"{path}[{index}]", duplicate_reason(camel, first))
    if isinstance(normalised, int) and not isinstance(normalised, bool):
        range_reason = int_range_problem(model, snake, normalised)
        if range_reason:
            problems.add(path, range_reason)
    field_check = checks.field_check(model, snake)
    if field_check is not None and isinstance(normalised, str):
        reason = field_check(normalised)
        if reason:
            problems.add(path, reason)
    return normalised


def normalise_value(value: object, openapi_type: str, *, path: str, problems: Problems) -> Any:
    list_match = _LIST_RE.match(openapi_type)
    if list_match:
        if not isinstance(value, (list, tuple)):
            problems.add(path, f"expected a list, got {describe(value)}")
            return []
        inner = list_match.group(1)
        return [
            normalise_value(item, inner, path=f"{path}[{i}]", problems=problems)
            for i, item in enumerate(value)
        ]
    dict_match = _DICT_RE.match(openapi_type)
    if dict_match:
        return _normalise_map(value, dict_match.group(1), path=path, problems=problems)
    if openapi_type in MODELS:
        return normalise_object(value, openapi_type, path=path, problems=problems)
    return _check_primitive(value, openapi_type, path=path, problems=problems)


def _normalise_map(value: object, inner: str, *, path: str, problems: Problems) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        problems.add(path, f"expected a mapping, got {describe(value)}")
        return {}
    result: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            problems.add(path, f"keys must be strings, got {describe(key)}")
            continue
        result[key] = normalise_value(item, inner, path=child_path(path, key), problems=problems)
    return result


def _check_primitive(value: object, openapi_type: str, *, path: str, problems: Problems) -> Any:
    if openapi_type in ("object", "datetime", "date"):
        return value
    expected: tuple[type, ...] = {"str": (str,), "int": (int,), "bool": (bool,), "float": (int, float)}.get(
        openapi_type, (object,)
    )
    if (isinstance(value, bool) and openapi_type != "bool") or not isinstance(value, expected):
        wanted = _PRIMITIVE_NAMES.get(openapi_type, openapi_type)
        problems.add(path, f"expected {wanted}, got {describe(value)}")
    return value


def convert_keys(value: Any, openapi_type: str, *, style: Literal["snake", "camel"]) -> Any:
    """Re-spell an already valid value's field names (e.g. snake_case for dagster-k8s's API)."""
    list_match = _LIST_RE.match(openapi_type)
    if list_match and isinstance(value, list):
        return [convert_keys(item, list_match.group(1), style=style) for item in value]
    dict_match = _DICT_RE.match(openapi_type)
    if dict_match and isinstance(value, Mapping):
        return {key: convert_keys(item, dict_match.group(1), style=style) for key, item in value.items()}
    if openapi_type in MODELS and isinstance(value, Mapping):
        return convert_object_keys(value, openapi_type, style=style)
    return value


def convert_object_keys(
    value: Mapping[str, Any], model: str, *, style: Literal["snake", "camel"]
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, item in value.items():
        resolved = resolve_field(model, key)
        if resolved is None:
            result[key] = item
            continue
        snake, camel, openapi_type = resolved
        result[snake if style == "snake" else camel] = convert_keys(item, openapi_type, style=style)
    return result
