"""YAML of a rendered Job with each field's source layer as a trailing comment.

PyYAML cannot emit comments, so mappings and lists are laid out here and only scalars are
formatted by PyYAML (double-quoted with escapes when they span lines or are not plain ASCII).
The output loads back to exactly the manifest (`yaml.safe_load`), which the tests check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from dagster_ext.k8s.spec.merging import item_path, join

COMMENT_COLUMN = 64


def annotated_yaml(manifest: Mapping[str, Any], provenance: Mapping[str, str]) -> str:
    """`manifest` as YAML; a field's line ends with `# <layer>` when `provenance` knows it."""
    lines: list[tuple[str, str | None]] = []
    _mapping(manifest, path="", indent="", first_prefix="", lines=lines, provenance=provenance)
    width = min(max((len(text) for text, _ in lines), default=0), COMMENT_COLUMN)
    out = [f"{text:<{width}}  # {layer}" if layer else text for text, layer in lines]
    return "\n".join(out) + "\n"


def scalar(value: Any) -> str:
    """One-line YAML for a scalar; strings that are not plain printable text get double quotes."""
    quoted = isinstance(value, str) and not (value.isprintable() and value.isascii())
    text = yaml.safe_dump(value, default_style='"' if quoted else None, width=10**9, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").rstrip("\n")


def _mapping(
    value: Mapping[str, Any],
    *,
    path: str,
    indent: str,
    first_prefix: str,
    lines: list[tuple[str, str | None]],
    provenance: Mapping[str, str],
) -> None:
    """Emit a mapping; its first line may start with `first_prefix` (`- ` inside a list)."""
    for position, (key, item) in enumerate(value.items()):
        lead = first_prefix if position == 0 and first_prefix else indent
        child = join(path, key)
        head = f"{lead}{scalar(key)}:"
        if isinstance(item, Mapping) and item:
            lines.append((head, None))
            _mapping(
                item, path=child, indent=indent + "  ", first_prefix="", lines=lines, provenance=provenance
            )
        elif isinstance(item, list) and item and child not in provenance:
            lines.append((head, None))
            _sequence(item, key=key, path=child, indent=indent + "  ", lines=lines, provenance=provenance)
        elif isinstance(item, list) and item:
            lines.append((head, provenance.get(child)))  # a list replaced whole (command, args)
            _sequence(item, key=key, path=child, indent=indent + "  ", lines=lines, provenance={})
        else:
            lines.append((f"{head} {scalar(item)}", provenance.get(child)))


def _sequence(
    value: list[Any],
    *,
    key: str,
    path: str,
    indent: str,
    lines: list[tuple[str, str | None]],
    provenance: Mapping[str, str],
) -> None:
    for index, item in enumerate(value):
        child = item_path(path, key, item, index)
        if isinstance(item, Mapping) and item:
            _mapping(
                item,
                path=child,
                indent=indent + "  ",
                first_prefix=f"{indent}- ",
                lines=lines,
                provenance=provenance,
            )
        elif isinstance(item, list) and item:
            lines.append((f"{indent}-", provenance.get(child)))
            _sequence(item, key="", path=child, indent=indent + "  ", lines=lines, provenance=provenance)
        else:
            lines.append((f"{indent}- {scalar(item)}", provenance.get(child)))
