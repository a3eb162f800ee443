"""Kubernetes Job names: the one name builder used by the launcher, the step executor, Celery
K8s mode and `execute_k8s_job`.

Run and step names equal dagster-k8s's (`dagster-run-<run id>`, `dagster-step-<md5>`) so that
operators' `kubectl get job` habits and dashboards keep working after switching. Unlike
dagster-k8s, every builder guarantees a valid DNS-1123 label of at most 63 characters whatever
the run id, step key or attempt number: a Job name that the API server rejects would only
surface at launch time.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME_LENGTH = 63
RUN_PREFIX = "dagster-run-"
STEP_PREFIX = "dagster-step-"
EXTERNAL_PREFIX = "dagster-k8s-job-"

_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_RE = re.compile(rf"^{_LABEL}\Z")
_DNS1123_SUBDOMAIN_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\Z")
_INVALID_RUN_RE = re.compile(r"[^a-z0-9]+")


def is_dns1123_label(value: str) -> bool:
    """Job, container and volume names must be DNS-1123 labels (and Job names feed a label)."""
    return len(value) <= MAX_NAME_LENGTH and bool(_DNS1123_LABEL_RE.match(value))


def is_dns1123_subdomain(value: str) -> bool:
    return len(value) <= 253 and bool(_DNS1123_SUBDOMAIN_RE.match(value))


def name_hash(*parts: str) -> str:
    """md5 of the concatenated parts, as dagster-k8s hashes `run_id + step_key` (not security)."""
    return hashlib.md5("".join(parts).encode("utf-8"), usedforsecurity=False).hexdigest()


def to_dns1123_label(value: str, *, max_length: int = MAX_NAME_LENGTH) -> str:
    """Lower-case, collapse invalid characters to `-`, trim to `max_length`; may return ''."""
    text = _INVALID_RUN_RE.sub("-", value.lower()).strip("-")
    return text[:max_length].rstrip("-")


def _fit(prefix: str, core: str, suffix: str) -> str:
    room = MAX_NAME_LENGTH - len(prefix) - len(suffix)
    if room < 1:  # absurd attempt numbers: keep the name valid, the hash keeps it unique
        return (prefix + name_hash(core, suffix))[:MAX_NAME_LENGTH].rstrip("-")
    return prefix + core[:room].rstrip("-") + suffix


def _attempt_suffix(attempt: int) -> str:
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    return f"-{attempt}" if attempt else ""


def run_k8s_job_name(run_id: str, *, resume_attempt: int = 0) -> str:
    """`dagster-run-<run id>`, `-<n>` on resume attempt n > 0.

    Dagster run ids are UUIDs and pass through unchanged; any other id is sanitised and gets a
    short hash of the original so that two ids that sanitise alike still get distinct Jobs.
    """
    suffix = _attempt_suffix(resume_attempt)
    candidate = RUN_PREFIX + run_id + suffix
    if is_dns1123_label(candidate):
        return candidate
    short_hash = name_hash(run_id)[:8]
    core = to_dns1123_label(run_id, max_length=MAX_NAME_LENGTH - len(RUN_PREFIX) - len(suffix) - 9)
    return _fit(RUN_PREFIX, f"{core}-{short_hash}" if core else short_hash, suffix)


def step_k8s_job_name(run_id: str, step_key: str, *, attempt: int = 0) -> str:
    """`dagster-step-<md5(run id + step key)>`, `-<attempt>` on retry attempt > 0."""
    return _fit(STEP_PREFIX, name_hash(run_id, step_key), _attempt_suffix(attempt))


def external_k8s_job_name(run_id: str, step_key: str, *, attempt: int = 0, sequence: int = 0) -> str:
    """Name of a Job started by `execute_k8s_job` / `k8s_job_op` from inside a step.

    `sequence` distinguishes several Jobs started by the same step (dagster-k8s would reuse one
    name and fail with 409 Conflict on the second call).
    """
    core = name_hash(run_id, step_key, f"#{sequence}") if sequence else name_hash(run_id, step_key)
    return _fit(EXTERNAL_PREFIX, core, _attempt_suffix(attempt))
