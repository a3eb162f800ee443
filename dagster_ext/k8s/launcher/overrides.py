"""Which of the run launcher's own settings a code location's container context replaced.

Precedence is dagster-k8s's: a code location's container context (`k8s.namespace`,
`k8s.service_account_name`) beats the launcher's `job_namespace` and `service_account_name`, so a
code location can run its runs elsewhere. A user who set the launcher's value expects it to hold:
when the container context replaced it with a different one, the launch says so, naming the keys
(never the values, which may be sensitive).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster_ext.k8s.launcher.manifest import RenderedRun
from dagster_ext.k8s.spec import CODE_LOCATION

# (launcher key, container-context key, manifest path of the effective value)
_SETTINGS = (
    ("job_namespace", "k8s.namespace", "metadata.namespace"),
    ("service_account_name", "k8s.service_account_name", "spec.template.spec.serviceAccountName"),
)


def _value_at(manifest: Mapping[str, Any], path: str) -> Any:
    node: Any = manifest
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def overridden_settings(launcher_config: Mapping[str, Any], rendered: RenderedRun) -> list[str]:
    """One sentence per launcher setting the code location replaced with a different value.

    `launcher_config` holds the keys the user set (not the schema's defaults): an unset
    `job_namespace` is no expectation to break.
    """
    notes = []
    for launcher_key, context_key, path in _SETTINGS:
        own = launcher_config.get(launcher_key)
        effective = _value_at(rendered.manifest, path)
        if own and rendered.provenance.get(path) == CODE_LOCATION and effective != own:
            notes.append(
                f"the code location's container context sets `{context_key}`, which replaces the run "
                f"launcher's `{launcher_key}` for this run; to keep the launcher's, remove `{context_key}` "
                "from the code location's container context or give both the same value"
            )
    return notes
