"""`$(VAR)` expansion exactly as Kubernetes does it for command, args and env values.

A port of `k8s.io/kubernetes/third_party/forked/golang/expansion`: `$(NAME)` becomes the value
of NAME when it is defined and stays verbatim otherwise; `$$` is an escaped `$`; any other `$`
is kept as is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

_OPERATOR = "$"
_OPEN = "("
_CLOSE = ")"


def mapping_for(*contexts: Mapping[str, str]) -> Callable[[str], str]:
    """Look a name up in each context in turn; undefined names expand to themselves."""

    def lookup(name: str) -> str:
        for context in contexts:
            if name in context:
                return context[name]
        return f"$({name})"

    return lookup


def expand(text: str, mapping: Callable[[str], str]) -> str:
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == _OPERATOR and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            read, is_var, advance = _read_variable_name(text[cursor + 1 :])
            out.append(mapping(read) if is_var else read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]


def _read_variable_name(rest: str) -> tuple[str, bool, int]:
    """(text read, whether it is a variable name, characters consumed after the operator)."""
    if rest[0] == _OPERATOR:
        return _OPERATOR, False, 1
    if rest[0] == _OPEN:
        close = rest.find(_CLOSE, 1)
        if close != -1:
            return rest[1:close], True, close + 1
        return _OPERATOR + _OPEN, False, 1
    return _OPERATOR + rest[0], False, 1


def expand_all(texts: Sequence[str], env: Mapping[str, str]) -> list[str]:
    mapping = mapping_for(env)
    return [expand(text, mapping) for text in texts]
