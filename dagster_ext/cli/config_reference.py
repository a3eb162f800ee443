"""Render docs/configuration.md from the config schemas themselves.

Why: a hand-written table of keys drifts from the schema the code validates against (a key added,
a default changed). Rendering the reference from the same `Field`s that Dagster checks, and a unit
test that compares the file with a fresh rendering, keeps the two equal.

    python -m dagster_ext.cli.config_reference            # rewrite docs/configuration.md
    python -m dagster_ext.cli.config_reference --check    # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from dagster import Field

DEFAULT_OUTPUT = Path("docs/configuration.md")
REGENERATE = "python -m dagster_ext.cli.config_reference"
_K8S_CONFIG_KEYS = frozenset(
    {
        "container_config",
        "pod_template_spec_metadata",
        "pod_spec_config",
        "job_config",
        "job_metadata",
        "job_spec_config",
        "merge_behavior",
    }
)
# Fields whose schema Dagster provides: described in our words, so that the file does not change
# with the wording of the installed Dagster release.
_DAGSTER_FIELDS = {
    "retries": "Dagster's step retries (RetryPolicy, dagster/max_retries): enabled or disabled.",
    "tag_concurrency_limits": "Dagster's per-run limits on steps with given tags running at once.",
    "step_dependency_config": "Dagster's rule for when a step may start relative to its upstream steps.",
}
_SCALARS = {"String": "string", "Int": "int", "Float": "float", "Bool": "bool", "Any": "any"}


@dataclass(frozen=True)
class Section:
    """One table of the reference: where the keys go, and the schema they are checked against."""

    title: str
    where: str
    schema: Mapping[str, Field]


def _is_k8s_config(config_type: Any) -> bool:
    """A `dagster-k8s/config`-shaped value: raw sections whose contents `k8s.spec` validates."""
    fields = config_type.fields
    return set(fields) <= _K8S_CONFIG_KEYS and all(
        field.config_type.kind.name == "PERMISSIVE_SHAPE"
        for name, field in fields.items()
        if name != "merge_behavior"
    )


def type_name(config_type: Any, *, top: bool = False) -> str:
    """A Dagster config type as a reader writes it in YAML; `top`: the type of a table row, whose
    keys, for a shape, follow as rows of their own."""
    kind = config_type.kind.name
    if kind == "NONEABLE":
        return f"{type_name(config_type.inner_type)} or null"
    if kind == "ARRAY":
        return f"[{type_name(config_type.inner_type)}]"
    if kind == "MAP":
        key = config_type.key_label_name or type_name(config_type.key_type)
        return f"{{{key}: {type_name(config_type.inner_type)}}}"
    if kind == "SCALAR_UNION":  # StringSource, IntSource, BoolSource: a value or {env: VAR}
        return f"{type_name(config_type.scalar_type)} or {{env: VAR}}"
    if kind == "ENUM":
        return " \\| ".join(f"`{value.config_value}`" for value in config_type.enum_values)
    if kind == "PERMISSIVE_SHAPE":
        return "mapping"
    if kind == "SELECTOR":
        return "one of: " + ", ".join(f"`{name}`" for name in config_type.fields)
    if kind == "STRICT_SHAPE":
        if _is_k8s_config(config_type):
            return "[dagster-k8s/config](pod-spec.md)"
        if top:
            return "mapping (keys below)"
        inner = ", ".join(
            f"{name}: {type_name(field.config_type)}" for name, field in config_type.fields.items()
        )
        return f"{{{inner}}}"
    return _SCALARS.get(config_type.given_name, str(config_type.given_name))


def _default(field: Field) -> str:
    if field.is_required:
        return "required"
    if not field.default_provided:
        return ""
    return f"`{json.dumps(field.default_value, sort_keys=True)}`"


def _cell(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def _rows(schema: Mapping[str, Field], prefix: str = "") -> Iterator[str]:
    for name, field in schema.items():
        config_type: Any = field.config_type  # a Shape here has `fields`; ConfigType does not say so
        kind = type_name(config_type, top=True)
        meaning = _DAGSTER_FIELDS.get(name, field.description) if not prefix else field.description
        yield f"| `{prefix}{name}` | {kind} | {_default(field)} | {_cell(meaning)} |"
        if kind == "mapping (keys below)":
            yield from _rows(config_type.fields, prefix=f"{prefix}{name}.")


def schema_table(schema: Mapping[str, Field]) -> str:
    head = "| key | type | default | meaning |\n| --- | --- | --- | --- |\n"
    return head + "\n".join(_rows(schema)) + "\n"


def option_table(command: click.Command) -> str:
    """A click command's options, as the same kind of table."""
    lines = ["| option | type | default | meaning |", "| --- | --- | --- | --- |"]
    for param in command.params:
        if not isinstance(param, click.Option) or param.hidden or param.name == "help":
            continue
        names = " / ".join(f"`{opt}`" for opt in [*param.opts, *param.secondary_opts])
        lines.append(f"| {names} | {_option_type(param)} | {_option_default(param)} | {_cell(param.help)} |")
    return "\n".join(lines) + "\n"


def _option_type(param: click.Option) -> str:
    kind = param.type
    if param.is_flag:
        return "flag"
    if isinstance(kind, click.Choice):
        return " \\| ".join(f"`{choice}`" for choice in kind.choices)
    if isinstance(kind, click.IntRange):
        return f"int, {kind.min if kind.min is not None else ''}..{kind.max if kind.max is not None else ''}"
    return {"integer": "int", "text": "string"}.get(kind.name, kind.name)


def _option_default(param: click.Option) -> str:
    default = param.default
    # click 8.2 marks "no default" with an enum sentinel, older releases with None
    if default is None or isinstance(default, enum.Enum) or default in ((), []):
        return ""
    return f"`{json.dumps(default)}`"


def sections() -> list[Section]:
    from dagster_ext.celery.k8s_steps import k8s_mode_config_schema
    from dagster_ext.celery.run_worker.executor import executor_config_schema as celery_schema
    from dagster_ext.k8s.config_schema import launcher_config_schema
    from dagster_ext.k8s.k8s_job.config import k8s_job_op_config_schema
    from dagster_ext.k8s.step_executor.config import executor_config_schema as step_schema

    k8s_mode = k8s_mode_config_schema()
    celery_only = {key: field for key, field in celery_schema().items() if key not in k8s_mode}
    job_config = "`execution.config` of a Dagster job using"
    return [
        Section(
            "K8s run launcher",
            "`run_launcher.config` in `dagster.yaml` ([launcher](launcher.md))",
            launcher_config_schema(),
        ),
        Section(
            "K8s step executor",
            f"{job_config} `k8s_job_executor` ([step executor](step-executor.md))",
            step_schema(),
        ),
        Section(
            "Celery-queue executor",
            f"{job_config} `celery_queue_executor`; the workers read it too ([Celery](celery.md))",
            celery_only,
        ),
        Section(
            "Celery-queue executor, `step_mode: k8s_job`",
            "the same `execution.config`: how a worker renders each step's K8s Job "
            "([Celery](celery.md#step_mode-k8s_job))",
            k8s_mode,
        ),
        Section(
            "K8s Jobs from an op",
            "the config of a `k8s_job_op`, and the keyword arguments of `execute_k8s_job` "
            "([K8s Jobs from an op](k8s-job.md))",
            k8s_job_op_config_schema(),
        ),
    ]


def render() -> str:
    from dagster_ext.cli.celery import celery

    worker = celery.commands["worker"]
    parts = [
        "# Configuration reference\n",
        f"<!-- Generated by `{REGENERATE}` from the config schemas; do not edit by hand. -->\n",
        "Every key each part of dagster-ext accepts, with its type and default, as the code checks them. "
        "`or {env: VAR}` means the value may also be read from an environment variable "
        "(`{env: DAGSTER_PG_PASSWORD}`). Keys of type dagster-k8s/config take the sections "
        "described in [pod-spec.md](pod-spec.md).\n",
    ]
    for section in sections():
        parts.append(f"## {section.title}\n\nWhere: {section.where}.\n\n{schema_table(section.schema)}")
    parts.append(
        "## Celery worker\n\nWhere: the options of `dagster-ext celery worker`; the worker reads the "
        "executor config above from `--config-yaml`.\n\n" + option_table(worker)
    )
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
