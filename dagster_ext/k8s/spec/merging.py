"""Merging camelCase config trees, remembering which layer set every field (provenance).

Values are merged as *sourced trees*: every mapping, list and scalar carries the name of the
layer it came from. Merging keeps those tags, so after any number of DEEP/SHALLOW merges the
result still says, per field, which layer won. `strip` recovers plain values; `provenance`
lists `path -> layer`.

DEEP rules (dagster-k8s's, except named lists): mappings merge recursively; scalars, `command`
and `args` are replaced; lists of named Kubernetes objects merge item-by-item on their
strategic-merge key (so an env var set twice appears once, with the upper layer's value;
containers merge field by field, other named items are replaced whole); other lists are
appended without duplicates. SHALLOW replaces each top-level key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dagster_ext.k8s.spec.config import K8sConfig, MergeBehavior
from dagster_ext.k8s.spec.named_lists import NAMED_LISTS, Identity

REPLACED_LISTS = frozenset({"command", "args"})
_PLAIN_KEY_RE = re.compile(r"^[A-Za-z0-9_]+\Z")


@dataclass(frozen=True)
class Leaf:
    value: Any
    layer: str


@dataclass(frozen=True)
class Branch:
    """A mapping of sourced trees; `layer` is who set it, for an empty mapping's provenance."""

    items: Mapping[str, Tree]
    layer: str


@dataclass(frozen=True)
class Seq:
    items: tuple[Tree, ...]
    layer: str


Tree = Leaf | Branch | Seq


# Containers are merged field by field (a layer can add an env var to a sidecar); items of the
# other named lists are replaced whole: merging `value` into a `valueFrom` env var, or a
# `configMap` volume into a `secret` volume, would produce an object the API server rejects.
MERGED_ITEM_LISTS = frozenset({"containers", "initContainers", "ephemeralContainers"})


def source(value: Any, layer: str, *, key: str | None = None) -> Tree:
    """Tag every part of a plain value with `layer`."""
    if isinstance(value, Mapping):
        return Branch({k: source(v, layer, key=k) for k, v in value.items()}, layer)
    if isinstance(value, (list, tuple)) and key not in REPLACED_LISTS:
        return Seq(tuple(source(item, layer) for item in value), layer)
    return Leaf(list(value) if isinstance(value, tuple) else value, layer)


def strip(tree: Tree) -> Any:
    """The plain value of a sourced tree."""
    if isinstance(tree, Branch):
        return {key: strip(item) for key, item in tree.items.items()}
    if isinstance(tree, Seq):
        return [strip(item) for item in tree.items]
    return tree.value


def deep_merge(base: Tree | None, over: Tree, *, key: str | None = None) -> Tree:
    """Merge `over` onto `base` with the DEEP rules; `key` is the field holding the values.

    A missing `base` is merged as an empty one, so a named list repeated inside a single layer
    (possible when a `K8sConfig` is built without parsing) is collapsed there too.
    """
    if base is None and isinstance(over, Branch):
        base = Branch({}, over.layer)
    elif base is None and isinstance(over, Seq) and key in NAMED_LISTS:
        base = Seq((), over.layer)
    if isinstance(base, Branch) and isinstance(over, Branch):
        items = dict(base.items)
        for child_key, child in over.items.items():
            items[child_key] = deep_merge(items.get(child_key), child, key=child_key)
        return Branch(items, over.layer)
    if isinstance(base, Seq) and isinstance(over, Seq):
        identity = NAMED_LISTS.get(key or "")
        if identity is None:
            return _append_unique(base, over)
        return _merge_named(base, over, identity, merge_items=key in MERGED_ITEM_LISTS)
    return over


def shallow_merge(base: Tree | None, over: Tree) -> Tree:
    """Replace `base`'s top-level keys with `over`'s (dagster-k8s's SHALLOW)."""
    if isinstance(base, Branch) and isinstance(over, Branch):
        return Branch({**base.items, **over.items}, over.layer)
    return over


def _append_unique(base: Seq, over: Seq) -> Seq:
    """dagster-k8s's list rule: append, then drop repeats of an equal value (first one wins)."""
    kept: list[Tree] = []
    seen: list[Any] = []
    for item in (*base.items, *over.items):
        plain = strip(item)
        if plain not in seen:
            seen.append(plain)
            kept.append(item)
    return Seq(tuple(kept), over.layer)


def _merge_named(base: Seq, over: Seq, identity: Identity, *, merge_items: bool) -> Seq:
    """Each item of `over` takes the place of *every* item of `base` with its key (the first
    one's position): Kubernetes applies the last of repeated env vars, so replacing only the
    first would let a lower layer's repeat beat the upper layer's value.
    """
    items = list(base.items)
    for item in over.items:
        wanted = item_identity(identity, item)
        positions = (
            []
            if wanted is None
            else [
                index for index, existing in enumerate(items) if item_identity(identity, existing) == wanted
            ]
        )
        if not positions:
            if all(strip(item) != strip(existing) for existing in items):
                items.append(item)
            continue
        first, *repeats = positions
        items[first] = deep_merge(items[first], item) if merge_items else item
        for index in reversed(repeats):
            del items[index]
    return Seq(tuple(items), over.layer)


def item_identity(identity: Identity, item: Tree) -> str | None:
    plain = strip(item)
    return identity(plain) if isinstance(plain, Mapping) else None


def join(parent: str, key: str) -> str:
    """Provenance paths: `a.b`, `labels[app.kubernetes.io/name]` for keys with dots/slashes."""
    if _PLAIN_KEY_RE.match(key):
        return f"{parent}.{key}" if parent else key
    return f"{parent}[{key}]"


def item_path(parent: str, list_key: str | None, item: Any, index: int) -> str:
    """`containers[dagster]`, `env[DAGSTER_HOME]` for named lists, `tolerations[0]` otherwise."""
    identity = NAMED_LISTS.get(list_key or "")
    name = identity(item) if identity and isinstance(item, Mapping) else None
    return f"{parent}[{name if name is not None else index}]"


def provenance(tree: Tree, prefix: str = "", *, key: str | None = None) -> dict[str, str]:
    """`path -> layer` for every leaf (and every empty mapping or list) of `tree`."""
    return dict(_walk(tree, prefix, key))


def _walk(tree: Tree, path: str, key: str | None) -> Iterator[tuple[str, str]]:
    if isinstance(tree, Branch) and tree.items:
        for child_key, child in tree.items.items():
            yield from _walk(child, join(path, child_key), child_key)
    elif isinstance(tree, Seq) and tree.items:
        for index, item in enumerate(tree.items):
            yield from _walk(item, item_path(path, key, strip(item), index), None)
    else:
        yield path, tree.layer


def prune_nulls(tree: Tree) -> Tree | None:
    """Drop fields set to null: a layer writes `nodeSelector: null` to unset an inherited value."""
    if isinstance(tree, Leaf):
        return None if tree.value is None else tree
    if isinstance(tree, Branch):
        kept = {key: pruned for key, item in tree.items.items() if (pruned := prune_nulls(item)) is not None}
        return Branch(kept, tree.layer)
    return Seq(tuple(p for item in tree.items if (p := prune_nulls(item)) is not None), tree.layer)


SourcedSections = dict[str, Tree]


def merge_sourced(base: SourcedSections, over: K8sConfig, layer: str) -> SourcedSections:
    """Merge one layer's sections onto already merged, sourced sections.

    The upper layer's `merge_behavior` decides, as in dagster-k8s. An empty layer changes
    nothing, so adding an empty layer anywhere is the identity.
    """
    merged = dict(base)
    for name, section in over.sections().items():
        if not section:
            continue
        sourced = source(section, layer)
        if over.merge_behavior is MergeBehavior.SHALLOW:
            merged[name] = shallow_merge(merged.get(name), deep_merge(None, sourced))  # collapse repeats
        else:
            merged[name] = deep_merge(merged.get(name), sourced)
    return merged


def merge_configs(base: K8sConfig, *overs: K8sConfig) -> K8sConfig:
    """Merge configs left to right (later wins), each with its own `merge_behavior`.

    The result carries the behavior of the last config that is not `K8sConfig()`, as
    dagster-k8s's result carries the upper one's; so `K8sConfig()` is an identity on both sides.
    """
    empty = K8sConfig()
    sourced: SourcedSections = {}
    behavior = base.merge_behavior
    for index, config in enumerate((base, *overs)):
        sourced = merge_sourced(sourced, config, str(index))
        if config != empty:
            behavior = config.merge_behavior
    return K8sConfig.from_sections({name: strip(tree) for name, tree in sourced.items()}, behavior)
