"""Kubernetes labels: syntax checks and the one label builder shared by every Job we create.

Label values come from user-controlled strings (job, op and asset names, code location names);
an invalid value makes the API server reject the whole Job, so values are sanitised here, once.
"""

from __future__ import annotations

import re
from enum import Enum
from functools import cache
from importlib import metadata

from dagster_ext.k8s.spec.names import is_dns1123_subdomain

MAX_LABEL_LENGTH = 63
_NAME_RE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?\Z")
_INVALID_VALUE_CHARS_RE = re.compile(r"[^-A-Za-z0-9_.]")
_EDGE_RE = re.compile(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+\Z")

RUN_ID_LABEL = "dagster/run-id"
JOB_LABEL = "dagster/job"
OP_LABEL = "dagster/op"
CODE_LOCATION_LABEL = "dagster/code-location"
COMPONENT_LABEL = "app.kubernetes.io/component"


class Component(str, Enum):
    """`app.kubernetes.io/component` of the Jobs we create; also selects Jobs per kind."""

    RUN_WORKER = "run_worker"
    STEP_WORKER = "step_worker"
    K8S_JOB = "k8s_job"


def label_value_problem(value: str) -> str | None:
    if len(value) > MAX_LABEL_LENGTH:
        return f"label value is {len(value)} characters long; at most {MAX_LABEL_LENGTH} allowed"
    if not _NAME_RE.match(value):
        return (
            "not a valid label value: use letters, digits, '-', '_', '.', "
            "starting and ending with a letter or digit"
        )
    return None


def label_key_problem(key: str) -> str | None:
    """Label and annotation keys are `[prefix/]name`, prefix a DNS subdomain."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and not is_dns1123_subdomain(prefix):
        return "the key's prefix (before '/') is not a lower-case DNS subdomain"
    if not name:
        return "the key's name part (after '/') must not be empty"
    if len(name) > MAX_LABEL_LENGTH or not _NAME_RE.match(name):
        return (
            f"not a valid key: the name part must be at most {MAX_LABEL_LENGTH} letters, "
            "digits, '-', '_', '.', starting and ending with a letter or digit"
        )
    return None


def is_label_value(value: str) -> bool:
    return label_value_problem(value) is None


def sanitize_label_value(value: str) -> str:
    """Turn any string into a valid label value.

    Equal to dagster-k8s's `sanitize_k8s_label` for values it handles correctly; unlike it, the
    result is valid for every input (e.g. it strips any mix of leading `-_.`).
    """
    text = _EDGE_RE.sub("", _INVALID_VALUE_CHARS_RE.sub("-", value))
    return _EDGE_RE.sub("", text[:MAX_LABEL_LENGTH])


@cache
def dagster_version() -> str:
    try:
        return metadata.version("dagster")
    except metadata.PackageNotFoundError:  # pragma: no cover - dagster is a dependency
        return "unknown"


def common_labels(*, instance: str = "dagster", version: str | None = None) -> dict[str, str]:
    """The recommended `app.kubernetes.io/*` labels; users may override these."""
    return {
        "app.kubernetes.io/name": "dagster",
        "app.kubernetes.io/instance": sanitize_label_value(instance),
        "app.kubernetes.io/version": sanitize_label_value(version or dagster_version()),
        "app.kubernetes.io/part-of": "dagster",
    }


def identity_labels(
    *,
    component: Component,
    run_id: str,
    dagster_job: str,
    op: str | None = None,
    code_location: str | None = None,
) -> dict[str, str]:
    """Labels that identify what a Job runs; the renderer never lets user config override them,
    because run monitoring, cleanup and `kubectl -l` selection rely on them.
    """
    labels = {
        COMPONENT_LABEL: component.value,
        RUN_ID_LABEL: sanitize_label_value(run_id),
        JOB_LABEL: sanitize_label_value(dagster_job),
    }
    if op is not None:
        labels[OP_LABEL] = sanitize_label_value(op)
    if code_location is not None:
        labels[CODE_LOCATION_LABEL] = sanitize_label_value(code_location)
    return labels


def k8s_job_labels(
    *,
    component: Component,
    run_id: str,
    dagster_job: str,
    op: str | None = None,
    code_location: str | None = None,
    instance: str = "dagster",
    version: str | None = None,
) -> dict[str, str]:
    """All standard labels of a Job and its pod template."""
    return {
        **common_labels(instance=instance, version=version),
        **identity_labels(
            component=component, run_id=run_id, dagster_job=dagster_job, op=op, code_location=code_location
        ),
    }
