"""Environment variables from the shorthand keys: `env_vars`, `env_config_maps`, `env_secrets`,
and the launcher's `dagster_home` / `postgres_password_secret`.

Secrets are only ever referenced by name (`secretRef`, `secretKeyRef`); the one value read from
an environment is an `env_vars: [KEY]` entry, and only when the caller passes `environ`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from dagster_ext.k8s.spec.checks import describe
from dagster_ext.k8s.spec.names import is_dns1123_subdomain
from dagster_ext.k8s.spec.schema import Problems, child_path

# the launcher schema's defaults, applied because callers may pass a raw dagster.yaml section
DAGSTER_HOME_DEFAULT: Final = "/opt/dagster/dagster_home"
PG_PASSWORD_ENV: Final = "DAGSTER_PG_PASSWORD"
PG_PASSWORD_SECRET_KEY: Final = "postgresql-password"
UNRESOLVED_ENV: Final = "<unresolved: ${name} from the launching process's environment>"


def env_from(value: Mapping[str, Any], *, path: str, problems: Problems) -> list[dict[str, Any]]:
    refs = []
    for key, ref in (("env_config_maps", "configMapRef"), ("env_secrets", "secretRef")):
        for index, name in enumerate(str_list(value.get(key), path=child_path(path, key), problems=problems)):
            if not is_dns1123_subdomain(name):
                problems.add(
                    f"{child_path(path, key)}[{index}]",
                    "not a valid ConfigMap/Secret name (DNS-1123 subdomain)",
                )
            refs.append({ref: {"name": name}})
    return refs


def env_vars(
    value: object, environ: Mapping[str, str] | None, *, path: str, problems: Problems
) -> list[dict[str, Any]]:
    """`KEY=VALUE`, or `KEY` whose value is read from `environ` (the launching process's env).

    Without `environ` (e.g. `dagster-ext render`), `KEY` renders as a visible placeholder: the
    value belongs to the launching process and must never be printed from someone's shell.
    """
    env = []
    first: dict[str, int] = {}
    for index, item in enumerate(str_list(value, path=path, problems=problems)):
        name, sep, text = item.partition("=")
        if not name:
            problems.add(f"{path}[{index}]", "has no variable name; use KEY=VALUE or KEY")
            continue
        if name in first:
            problems.add(f"{path}[{index}]", f"same name as item [{first[name]}]; each name may appear once")
            continue
        first[name] = index
        if not sep:
            if environ is None:
                text = UNRESOLVED_ENV.replace("{name}", name)
            elif name in environ:
                text = environ[name]
            else:
                problems.add(f"{path}[{index}]", "is not set in the launching process's environment")
                continue
        env.append({"name": name, "value": text})
    return env


def launcher_env(value: Mapping[str, Any], *, path: str, problems: Problems) -> list[dict[str, Any]]:
    home = optional_str(
        value.get("dagster_home", DAGSTER_HOME_DEFAULT),
        path=child_path(path, "dagster_home"),
        problems=problems,
    )
    secret = optional_str(
        value.get("postgres_password_secret"),
        path=child_path(path, "postgres_password_secret"),
        problems=problems,
    )
    env: list[dict[str, Any]] = [{"name": "DAGSTER_HOME", "value": home}] if home else []
    if secret:
        env.append(
            {
                "name": PG_PASSWORD_ENV,
                "valueFrom": {"secretKeyRef": {"name": secret, "key": PG_PASSWORD_SECRET_KEY}},
            }
        )
    return env


def str_list(value: object, *, path: str, problems: Problems) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        problems.add(path, f"expected a list of strings, got {describe(value)}")
        return []
    result = []
    for index, item in enumerate(value):
        if isinstance(item, str):
            result.append(item)
        else:
            problems.add(f"{path}[{index}]", f"expected a string, got {describe(item)}")
    return result


def optional_str(value: object, *, path: str, problems: Problems) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    problems.add(path, f"expected a string, got {describe(value)}")
    return None


def env_var_name(item: object) -> str | None:
    """The name an `env_vars` entry (`KEY=VALUE` or `KEY`) sets."""
    return item.partition("=")[0] if isinstance(item, str) else None


def upper_wins(*lists: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Env lists of one source's shorthand keys, later keys winning per name (at the first
    occurrence's position, as a DEEP merge places it): they are sub-layers, not one list."""
    by_name: dict[object, dict[str, Any]] = {}
    for items in lists:
        for item in items:
            name = item.get("name")
            by_name[name if isinstance(name, str) else id(item)] = item
    return list(by_name.values())
