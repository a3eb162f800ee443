"""Limits on the size and nesting of configuration input, checked before anything recurses.

A `dagster-k8s/config` tag is user input that every parse, merge and render walks recursively,
and `json.loads` itself recurses: a tag nested a few thousand levels deep would end in a
`RecursionError` with a traceback instead of an error naming the tag. The deepest field of a Job
(`job_config.spec.template.spec.affinity...matchExpressions[0].values[0]`) is about 15 levels
deep and Kubernetes stores at most about 1.5 MiB per object, so the limits below reject nothing
a valid Job can hold. JSON text is measured with a scan that does not recurse; decoded values
with an explicit stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from dagster_ext.errors import ConfigError

MAX_DEPTH: Final = 32
MAX_DOCUMENT_BYTES: Final = 1024 * 1024
DEPTH_REASON: Final = f"nested deeper than {MAX_DEPTH} levels of mappings and lists"
SIZE_REASON: Final = f"larger than {MAX_DOCUMENT_BYTES // 1024} KiB"


def text_problem(text: str) -> str | None:
    """Why JSON (or YAML flow) text is beyond the limits, without decoding it."""
    if len(text) > MAX_DOCUMENT_BYTES or len(text.encode("utf-8", errors="replace")) > MAX_DOCUMENT_BYTES:
        return SIZE_REASON
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return DEPTH_REASON
        elif char in "]}":
            depth -= 1
    return None


def value_problem(value: object) -> str | None:
    """Why an already decoded value (a dict from Dagster config, a tag set as a dict) is beyond
    the limits: its nesting depth, or its size counted as characters of keys and strings."""
    stack: list[tuple[object, int]] = [(value, 0)]
    size = 0
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children = [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple)):
            children = list(item)
        else:
            size += len(item) if isinstance(item, str) else 8
            if size > MAX_DOCUMENT_BYTES:
                return SIZE_REASON
            continue
        if depth + 1 > MAX_DEPTH:
            return DEPTH_REASON
        size += 2
        stack.extend((child, depth + 1) for child in children)
    return None


def check_bounds(value: object, *, path: str) -> None:
    """Raise `ConfigError` at `path` for text or a value beyond the limits (before parsing it)."""
    reason = text_problem(value) if isinstance(value, str) else value_problem(value)
    if reason:
        raise ConfigError(f"{reason}; a Job's configuration never needs that", path=path)
