"""`dagster-ext` command line.

Sub-commands are imported lazily so that `dagster-ext cluster status` does not pay for
importing Dagster, and one broken optional dependency does not break every command.
"""

from __future__ import annotations

import importlib

import click

# sub-command name -> "module:attribute" of a click command or group
_SUBCOMMANDS: dict[str, str] = {
    "render": "dagster_ext.cli.render:render",
    "cluster": "dagster_ext.cli.cluster:cluster",
    "celery": "dagster_ext.cli.celery:celery",
    "diagnose": "dagster_ext.cli.diagnose:diagnose",
    "image": "dagster_ext.cli.image:image",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup)
@click.version_option(package_name="dagster-ext-k8s")
def main() -> None:
    """Run Dagster on Kubernetes and Celery."""


if __name__ == "__main__":  # pragma: no cover
    main()
