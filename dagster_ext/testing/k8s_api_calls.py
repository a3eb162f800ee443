"""Which Kubernetes API calls the gateway makes, as RBAC (apiGroup, resource, verb) triples.

`dagster_ext/k8s/client/` is the only code that talks to the API. Its calls are read from the
source (every `*_namespaced_*` / `list_node`-style method of the Kubernetes client it names) and
each is mapped through the client's own request path and HTTP method, so the shipped Role can be
checked against the code: a new call without a Role change fails a test.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_API_METHOD = re.compile(r"^(create|read|list|delete|delete_collection|patch|replace|connect_\w+)_\w+$")
_CALL_API = re.compile(r"""['"](/apis?/[^'"]+)['"]\s*,\s*['"](GET|POST|PUT|PATCH|DELETE)['"]""")


@dataclass(frozen=True, order=True)
class Permission:
    api_group: str
    resource: str
    verb: str

    def __str__(self) -> str:
        return f"{self.verb} {self.resource} ({self.api_group or 'core'})"


def referenced_api_methods(package_dir: Path) -> dict[str, set[str]]:
    """{Kubernetes client method name: modules naming it}; a module that passes `watch=True` also watches
    with every list method it names (the client watches through `list_*` calls)."""
    found: dict[str, set[str]] = {}
    for path in sorted(package_dir.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        names = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        watches = any(
            isinstance(node, ast.keyword)
            and node.arg == "watch"
            and isinstance(node.value, ast.Constant)
            and node.value.value is True
            for node in ast.walk(tree)
        )
        for name in names:
            if _API_METHOD.match(name) and _is_client_method(name):
                found.setdefault(name, set()).add(path.name)
                if watches and name.startswith("list_"):
                    found.setdefault(f"watch:{name}", set()).add(path.name)
    return found


def _is_client_method(name: str) -> bool:
    """A method of the Kubernetes client (the gateway's own methods have similar names)."""
    return any(hasattr(cls, f"{name}_with_http_info") for _, cls in api_classes())


def api_classes() -> Sequence[tuple[str, Any]]:
    """The client API classes the gateway builds (`_raw.py`), by name."""
    from kubernetes import client

    return [("BatchV1Api", client.BatchV1Api), ("CoreV1Api", client.CoreV1Api)]


def permission_of(method: str, classes: Sequence[tuple[str, Any]] | None = None) -> Permission:
    """The RBAC permission a client method needs, from its request path and HTTP method."""
    watch = method.startswith("watch:")
    name = method.removeprefix("watch:")
    owners = [cls for _, cls in (classes or api_classes()) if hasattr(cls, f"{name}_with_http_info")]
    if len(owners) != 1:
        raise LookupError(
            f"{name}: expected on exactly one of the gateway's API classes, found {len(owners)}"
        )
    match = _CALL_API.search(inspect.getsource(getattr(owners[0], f"{name}_with_http_info")))
    if match is None:
        raise LookupError(f"{name}: no request path in the client's source")
    path, http = match.groups()
    return _permission(path, http, watch=watch)


def _permission(path: str, http: str, *, watch: bool) -> Permission:
    parts = path.strip("/").split("/")
    group = "" if parts[0] == "api" else parts[1]
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    if rest[:1] == ["namespaces"] and len(rest) > 2:
        rest = rest[2:]
    named = len(rest) >= 2 and rest[1] == "{name}"
    resource = rest[0] + (f"/{rest[2]}" if named and len(rest) > 2 else "")
    verb = {
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if named else "deletecollection",
        "GET": "get" if named else ("watch" if watch else "list"),
    }[http]
    return Permission(group, resource, verb)


def required_permissions(package_dir: Path) -> dict[Permission, set[str]]:
    """{permission: the gateway modules whose calls need it}."""
    out: dict[Permission, set[str]] = {}
    for method, modules in referenced_api_methods(package_dir).items():
        out.setdefault(permission_of(method), set()).update(modules)
    return out


def granted(rules: Iterable[Mapping[str, Any]]) -> set[Permission]:
    """The permissions RBAC rules grant (no wildcards: a least-privilege Role has none)."""
    return {
        Permission(group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups") or ()
        for resource in rule.get("resources") or ()
        for verb in rule.get("verbs") or ()
    }


def missing(required: Iterable[Permission], rules: Iterable[Mapping[str, Any]]) -> list[Permission]:
    have = granted(rules)
    return sorted(p for p in required if p not in have)
