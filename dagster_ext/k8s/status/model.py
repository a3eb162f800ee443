"""What a diagnosis says: the K8s Job's state and, when something is wrong, one named reason.

A reason may come with a state that is not a failure yet (an Unschedulable pod within its
grace, a CrashLoopBackOff with restarts left, a suspended K8s Job): then it explains the wait.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from dagster_ext.k8s.status.reasons import Category, FailureReason

HEADLINE_CHARS = 600


class K8sJobState(Enum):
    MISSING = "missing"
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class DiagnosisSettings:
    image_pull_grace_s: float = 30.0
    unschedulable_grace_s: float = 60.0
    container_config_grace_s: float = 10.0
    failed_create_grace_s: float = 0.0
    capacity_grace_s: float | None = None  # a pod that only waits for busy nodes: no limit

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DiagnosisSettings:
        """From the `failure_grace_seconds` key shared by the launcher and executor configs."""
        grace = config.get("failure_grace_seconds") or {}
        defaults = cls()
        capacity = grace.get("capacity", defaults.capacity_grace_s)
        return cls(
            image_pull_grace_s=float(grace.get("image_pull", defaults.image_pull_grace_s)),
            unschedulable_grace_s=float(grace.get("unschedulable", defaults.unschedulable_grace_s)),
            container_config_grace_s=float(grace.get("container_config", defaults.container_config_grace_s)),
            failed_create_grace_s=float(grace.get("failed_create", defaults.failed_create_grace_s)),
            capacity_grace_s=None if capacity is None else float(capacity),
        )


@dataclass(frozen=True)
class Diagnosis:
    state: K8sJobState
    reason: FailureReason | None = None
    detail: str = ""
    pod_name: str | None = None
    exit_code: int | None = None
    container: str | None = None
    node: str | None = None
    log_tail: str | None = None

    @property
    def failed(self) -> bool:
        return self.state in (K8sJobState.FAILED, K8sJobState.MISSING)

    @property
    def done(self) -> bool:
        return self.state in (K8sJobState.SUCCEEDED, K8sJobState.FAILED, K8sJobState.MISSING)

    @property
    def category(self) -> Category | None:
        return self.reason.category if self.reason else None

    @property
    def retryable(self) -> bool:
        return bool(self.reason and self.reason.retryable)

    @property
    def hint(self) -> str:
        return self.reason.info.hint if self.reason else ""

    @property
    def verb(self) -> str:
        """What the event log says happened: "preempted", "evicted", "ran out of memory", ..."""
        return self.reason.info.verb if self.reason else self.state.value

    @property
    def message(self) -> str:
        """The detail with the failed container's last log lines, when read."""
        if not self.log_tail or not self.log_tail.strip():
            return self.detail
        return f"{self.detail}\nLast log lines:\n{self.log_tail.rstrip()}"

    def where(self) -> str:
        parts = [
            f"{label} {value}"
            for label, value in (("pod", self.pod_name), ("container", self.container), ("node", self.node))
            if value
        ]
        return f" ({', '.join(parts)})" if parts else ""

    def headline(self) -> str:
        """One line: reason, where, and the numbers that matter. A multi-line message (a
        termination message that falls back to the log) is joined, and cut at HEADLINE_CHARS."""
        head = self.reason.value if self.reason else self.state.value
        detail = " ".join(line.strip() for line in self.detail.splitlines() if line.strip())
        if len(detail) > HEADLINE_CHARS:
            detail = detail[: HEADLINE_CHARS - 1] + "…"
        return f"{head}{self.where()}: {detail}" if detail else f"{head}{self.where()}"

    def summary(self) -> str:
        """The headline, what to change, then the log tail: the text of a failure message."""
        lines = [self.headline()]
        if self.reason and self.failed:
            lines.append(f"What to change: {self.hint}")
        if self.log_tail and self.log_tail.strip():
            lines += ["Last log lines:", self.log_tail.rstrip()]
        return "\n".join(lines)

    def failure_text(self, subject: str) -> str:
        """The one failure message of every adapter: what happened to `subject` in words a user
        alerts on ("preempted", not "failed", for a disruption), then the summary."""
        retry = " (retryable: retried per its retry policy)" if self.retryable else ""
        return f"{subject} {self.verb}{retry}: {self.summary()}"

    def metadata(self) -> dict[str, str]:
        """Plain strings for Dagster event metadata, so users can alert on them."""
        found = {
            "reason": self.reason.value if self.reason else self.state.value,
            "category": self.category.value if self.category else "",
            "retryable": str(self.retryable).lower(),
            "pod": self.pod_name or "",
            "container": self.container or "",
            "node": self.node or "",
        }
        if self.exit_code is not None:
            found["exit code"] = str(self.exit_code)
        return {key: value for key, value in found.items() if value}
