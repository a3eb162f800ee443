"""The failure taxonomy: one stable name per way a K8s Job or pod fails, with what to do about it.

Names are stable because users alert on them (they travel as Dagster event metadata). The
category says whose problem it is; disruption and infrastructure failures are not the code's
fault, so they are retryable: the step or run is retried per its policy and reported as
preempted/evicted rather than failed. docs/troubleshooting.md is rendered from this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Category(str, Enum):
    USER_CODE = "user code"
    RESOURCES = "resources"
    IMAGE = "image"
    CONFIGURATION = "configuration"
    SCHEDULING = "scheduling"
    DISRUPTION = "disruption"
    INFRASTRUCTURE = "infrastructure"

    @property
    def retryable(self) -> bool:
        return self in (Category.DISRUPTION, Category.INFRASTRUCTURE)


class FailureReason(str, Enum):
    OOM_KILLED = "OOMKilled"
    EPHEMERAL_STORAGE = "EphemeralStorageExceeded"
    EXIT_CODE = "NonZeroExit"
    CRASH_LOOP = "CrashLoopBackOff"
    BACKOFF_LIMIT = "BackoffLimitExceeded"
    POD_FAILURE_POLICY = "PodFailurePolicy"
    MAX_FAILED_INDEXES = "MaxFailedIndexesExceeded"
    FAILED_INDEXES = "FailedIndexes"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    IMAGE_PULL = "ImagePullBackOff"
    INVALID_IMAGE_NAME = "InvalidImageName"
    IMAGE_NEVER_PULL = "ErrImageNeverPull"
    IMAGE_SIGNATURE = "SignatureValidationFailed"
    IMAGE_INSPECT = "ImageInspectError"
    REGISTRY_UNAVAILABLE = "RegistryUnavailable"
    CONTAINER_CONFIG = "CreateContainerConfigError"
    CREATE_CONTAINER = "CreateContainerError"
    RUN_CONTAINER = "RunContainerError"
    START_ERROR = "StartError"
    FAILED_CREATE = "FailedCreate"
    UNSCHEDULABLE = "Unschedulable"
    WAITING_FOR_CAPACITY = "WaitingForCapacity"
    ADMISSION_REJECTED = "AdmissionRejected"
    SUSPENDED = "Suspended"
    EVICTED = "Evicted"
    EVICTED_BY_API = "EvictedByAPI"
    PREEMPTED = "Preempted"
    NODE_SHUTDOWN = "NodeShutdown"
    TAINT_EVICTED = "TaintEviction"
    POD_DELETED = "PodDeleted"
    DELETED = "Deleted"
    NODE_LOST = "NodeLost"
    CONTAINER_STATUS_UNKNOWN = "ContainerStatusUnknown"
    UNKNOWN = "Unknown"

    @property
    def info(self) -> ReasonInfo:
        return TAXONOMY[self]

    @property
    def category(self) -> Category:
        return TAXONOMY[self].category

    @property
    def retryable(self) -> bool:
        return TAXONOMY[self].category.retryable


@dataclass(frozen=True)
class ReasonInfo:
    category: Category
    verb: str  # how the event log says it happened: "failed", "preempted", "evicted", ...
    meaning: str
    hint: str


CONFIG_KEY = "the `dagster-k8s/config` tag (or the executor's `step_k8s_config`)"
R, C = FailureReason, Category

TAXONOMY: dict[FailureReason, ReasonInfo] = {
    R.OOM_KILLED: ReasonInfo(
        C.RESOURCES,
        "ran out of memory",
        "The kernel killed the container because it used more memory than its limit (or the node ran "
        "out). The exit code may be 137 (SIGKILL) or even 0 when a child process was the one killed.",
        f"Raise `container_config.resources.limits.memory` (and `requests.memory`) in {CONFIG_KEY}, "
        "or make the step use less memory.",
    ),
    R.EPHEMERAL_STORAGE: ReasonInfo(
        C.RESOURCES,
        "evicted for disk use",
        "The kubelet evicted the pod because its local ephemeral storage (writable layer, logs, "
        "emptyDir) exceeded a limit.",
        f"Raise `container_config.resources.limits.ephemeral-storage` or the emptyDir `sizeLimit` in "
        f"{CONFIG_KEY}, or write large files to a volume.",
    ),
    R.EXIT_CODE: ReasonInfo(
        C.USER_CODE,
        "failed",
        "The container's process exited with a non-zero code. Codes above 128 mean a signal "
        "(137 = 128 + SIGKILL, 143 = 128 + SIGTERM) that nobody else claims.",
        "Read the last log lines quoted with the failure; fix the code or its inputs.",
    ),
    R.CRASH_LOOP: ReasonInfo(
        C.USER_CODE,
        "keeps crashing",
        "The container exited and the kubelet restarts it with growing delays (restartPolicy "
        "OnFailure or Always). The cause is the last termination, kept in `lastState`.",
        "Read the previous container's log (`kubectl logs --previous`); restarts count against the "
        "K8s Job's `backoffLimit` (`job_spec_config.backoffLimit`).",
    ),
    R.BACKOFF_LIMIT: ReasonInfo(
        C.USER_CODE,
        "failed",
        "The K8s Job's pods failed more times than its `backoffLimit` allows, and no pod left a more "
        "specific reason (the pods may have been removed already).",
        "Look at the failed pods' exit codes and logs; raise `job_spec_config.backoffLimit` in "
        f"{CONFIG_KEY} only if the failures are transient.",
    ),
    R.POD_FAILURE_POLICY: ReasonInfo(
        C.USER_CODE,
        "failed",
        "A rule of the K8s Job's `podFailurePolicy` with action FailJob matched a failed pod (an exit "
        "code or a pod condition), so the Job failed without further retries.",
        "Fix the exit code the rule matched, or change `job_spec_config.podFailurePolicy`.",
    ),
    R.MAX_FAILED_INDEXES: ReasonInfo(
        C.USER_CODE,
        "failed",
        "An indexed K8s Job had more failed indexes than its `maxFailedIndexes`.",
        "Look at the failed indexes' pods; change `job_spec_config.maxFailedIndexes` or "
        "`backoffLimitPerIndex`.",
    ),
    R.FAILED_INDEXES: ReasonInfo(
        C.USER_CODE,
        "failed",
        "An indexed K8s Job with `backoffLimitPerIndex` finished with some indexes failed.",
        "Look at the failed indexes' pods; raise `job_spec_config.backoffLimitPerIndex` if transient.",
    ),
    R.DEADLINE_EXCEEDED: ReasonInfo(
        C.CONFIGURATION,
        "ran past its deadline",
        "The K8s Job (or pod) ran longer than its `activeDeadlineSeconds`; the controller killed its "
        "pods, so their exit codes (137, 143) are a consequence, not the cause.",
        "Raise `job_spec_config.activeDeadlineSeconds` (or `pod_spec_config.activeDeadlineSeconds`) in "
        f"{CONFIG_KEY}, or make the step faster.",
    ),
    R.IMAGE_PULL: ReasonInfo(
        C.IMAGE,
        "could not pull its image",
        "The kubelet cannot pull the image (ErrImagePull, then ImagePullBackOff): wrong name or tag, "
        "missing credentials, or an unreachable registry.",
        "Check the image name and tag; set `pod_spec_config.imagePullSecrets` (or the ServiceAccount's) "
        "for a private registry.",
    ),
    R.INVALID_IMAGE_NAME: ReasonInfo(
        C.IMAGE,
        "has an invalid image name",
        "The image reference cannot be parsed; the kubelet will never start the container.",
        "Fix the image reference (the `image` of the run, the code location or `container_config`).",
    ),
    R.IMAGE_NEVER_PULL: ReasonInfo(
        C.IMAGE,
        "has no image on the node",
        "`imagePullPolicy: Never` and the image is not present on the node.",
        "Load the image onto the nodes, or set `container_config.imagePullPolicy` to IfNotPresent.",
    ),
    R.IMAGE_SIGNATURE: ReasonInfo(
        C.IMAGE,
        "has an image that failed signature validation",
        "The container runtime's signature policy rejected the image.",
        "Use a signed image the cluster's policy accepts, or ask the cluster admins about the policy.",
    ),
    R.IMAGE_INSPECT: ReasonInfo(
        C.IMAGE,
        "has an image the runtime cannot inspect",
        "The container runtime pulled the image but cannot read its configuration (corrupt or "
        "unsupported manifest, wrong platform).",
        "Rebuild and push the image for the nodes' platform; check the runtime's logs on the node.",
    ),
    R.REGISTRY_UNAVAILABLE: ReasonInfo(
        C.INFRASTRUCTURE,
        "could not reach the registry",
        "The image registry did not answer; nothing is wrong with the step itself.",
        "Check the registry's availability and the nodes' network; the step can be retried.",
    ),
    R.CONTAINER_CONFIG: ReasonInfo(
        C.CONFIGURATION,
        "has a broken container configuration",
        "The kubelet cannot build the container's configuration: usually a Secret or ConfigMap (or a "
        "key in one) referenced by `env`/`envFrom` does not exist.",
        "Create the referenced Secret/ConfigMap in the namespace, or fix `container_config.env`, "
        "`env_secrets` or `env_config_maps`.",
    ),
    R.CREATE_CONTAINER: ReasonInfo(
        C.CONFIGURATION,
        "could not create its container",
        "The container runtime refused to create the container (bad mount, security context, "
        "device or command settings).",
        "Read the message; fix `container_config` (volumeMounts, securityContext, command).",
    ),
    R.RUN_CONTAINER: ReasonInfo(
        C.CONFIGURATION,
        "could not start its container",
        "The runtime created the container but could not start it (after a StartError).",
        "Read the message; usually the command is not found in the image (`container_config.command`).",
    ),
    R.START_ERROR: ReasonInfo(
        C.CONFIGURATION,
        "could not start its container",
        "The runtime failed to start the process (exit code 128): a missing executable, a bad "
        "working directory or a mount that could not be made.",
        "Fix `container_config.command`/`args`/`workingDir`, or use an image that contains the command.",
    ),
    R.FAILED_CREATE: ReasonInfo(
        C.CONFIGURATION,
        "could not create its pod",
        "The Job controller cannot create the pod: a ResourceQuota or LimitRange, a missing "
        "ServiceAccount, or an admission webhook rejected it (see the Event's message).",
        "Fix what the message names: `pod_spec_config.serviceAccountName`, resource requests, the "
        "namespace's ResourceQuota/LimitRange, or the webhook's policy.",
    ),
    R.UNSCHEDULABLE: ReasonInfo(
        C.SCHEDULING,
        "cannot be scheduled",
        "No node can take the pod; the scheduler's message says why for each node (\"0/N nodes are "
        'available: ...": resources, node selector or affinity, taints, volumes).',
        "Lower `container_config.resources.requests`, fix `pod_spec_config.nodeSelector`/`affinity`/"
        "`tolerations`, or add nodes (check the cluster autoscaler).",
    ),
    R.WAITING_FOR_CAPACITY: ReasonInfo(
        C.SCHEDULING,
        "waited too long for capacity",
        "The nodes are busy: the scheduler names only missing resources, and the pod's requests fit "
        "an empty node, so it runs once other pods finish. It waits without limit unless "
        "`failure_grace_seconds.capacity` is set.",
        "Add nodes (or let the cluster autoscaler), lower the step's `container_config.resources."
        "requests`, or cap parallelism (executor `max_concurrent`, Dagster pools).",
    ),
    R.ADMISSION_REJECTED: ReasonInfo(
        C.SCHEDULING,
        "was rejected by its node",
        "The kubelet refused the pod at admission (NodeAffinity, OutOfcpu, OutOfmemory, "
        "UnexpectedAdmissionError...): the node changed between scheduling and start.",
        "Check the node's labels and capacity against `pod_spec_config.nodeSelector`/`affinity` and "
        "the requests; a retry usually lands on another node.",
    ),
    R.SUSPENDED: ReasonInfo(
        C.SCHEDULING,
        "is suspended",
        "The K8s Job has `spec.suspend: true` (set by a queueing system such as Kueue, or by hand): "
        "no pod is created until it is resumed.",
        "Check the queue (e.g. Kueue's LocalQueue/ClusterQueue quotas) or unset `job_spec_config.suspend`.",
    ),
    R.EVICTED: ReasonInfo(
        C.DISRUPTION,
        "evicted",
        "The kubelet evicted the pod because the node ran low on memory, disk or PIDs.",
        "Retried per the RetryPolicy. To make it rarer, set `container_config.resources.requests` close "
        "to real use (pods above their requests are evicted first).",
    ),
    R.EVICTED_BY_API: ReasonInfo(
        C.DISRUPTION,
        "evicted",
        "The pod was evicted through the Eviction API: a node drain, the cluster autoscaler scaling "
        "down, or a descheduler.",
        "Retried per the RetryPolicy. Protect long steps with a PodDisruptionBudget or the annotation "
        '`cluster-autoscaler.kubernetes.io/safe-to-evict: "false"` in `pod_template_spec_metadata`.',
    ),
    R.PREEMPTED: ReasonInfo(
        C.DISRUPTION,
        "preempted",
        "The scheduler (or the kubelet, for a critical pod) preempted the pod to make room for a pod of "
        "higher priority.",
        "Retried per the RetryPolicy. Give the step a higher `pod_spec_config.priorityClassName`.",
    ),
    R.NODE_SHUTDOWN: ReasonInfo(
        C.DISRUPTION,
        "stopped by a node shutdown",
        "The node shut down (graceful node shutdown, spot/preemptible reclaim, maintenance) and "
        "terminated its pods.",
        "Retried per the RetryPolicy. Use on-demand nodes (`pod_spec_config.nodeSelector`) for steps "
        "that must not be interrupted.",
    ),
    R.TAINT_EVICTED: ReasonInfo(
        C.DISRUPTION,
        "evicted",
        "The taint manager deleted the pod because its node got a NoExecute taint it does not "
        "tolerate (often node.kubernetes.io/unreachable or not-ready).",
        "Retried per the RetryPolicy. Check the node's health; add `pod_spec_config.tolerations` "
        "(with tolerationSeconds) only if the taint is expected.",
    ),
    R.POD_DELETED: ReasonInfo(
        C.DISRUPTION,
        "deleted",
        "The pod was deleted while it ran (by a user, a controller or garbage collection); an exit "
        "code of 137 or 143 is the kill that followed, not an application failure.",
        "Retried per the RetryPolicy. Find who deleted it in the audit log or Events.",
    ),
    R.DELETED: ReasonInfo(
        C.DISRUPTION,
        "deleted",
        "The K8s Job no longer exists or is being deleted: terminated, deleted by hand, or removed by "
        "`ttlSecondsAfterFinished` before its result was read.",
        "If nobody deleted it, raise `job_spec_config.ttlSecondsAfterFinished`.",
    ),
    R.NODE_LOST: ReasonInfo(
        C.INFRASTRUCTURE,
        "lost its node",
        "The pod's node stopped responding or was removed, and the pod was marked failed or "
        "garbage-collected.",
        "Retried per the RetryPolicy. Check the node (`kubectl describe node`) and the cloud provider.",
    ),
    R.CONTAINER_STATUS_UNKNOWN: ReasonInfo(
        C.INFRASTRUCTURE,
        "lost its container",
        "The kubelet could not find the container any more (the node restarted or the runtime lost "
        "it); the exit code 137 is made up by the kubelet.",
        "Retried per the RetryPolicy. Check the node's kubelet and container runtime.",
    ),
    R.UNKNOWN: ReasonInfo(
        C.INFRASTRUCTURE,
        "failed",
        "The K8s Job failed for a reason this version does not recognise.",
        "Run `kubectl describe job` and `kubectl get events`; please report the condition's reason.",
    ),
}

# Pending states in which the K8s Job stays active: whoever gives up on it must delete it.
STUCK_REASONS = frozenset(
    {
        R.IMAGE_PULL,
        R.INVALID_IMAGE_NAME,
        R.IMAGE_NEVER_PULL,
        R.IMAGE_SIGNATURE,
        R.IMAGE_INSPECT,
        R.REGISTRY_UNAVAILABLE,
        R.CONTAINER_CONFIG,
        R.CREATE_CONTAINER,
        R.RUN_CONTAINER,
        R.UNSCHEDULABLE,
        R.WAITING_FOR_CAPACITY,
        R.FAILED_CREATE,
    }
)
# A container ran and ended: its last log lines say more, and its K8s Job is worth keeping.
RAN_REASONS = frozenset({R.OOM_KILLED, R.EXIT_CODE, R.POD_FAILURE_POLICY})
# The step process exited by itself, so it has usually written its own STEP_FAILURE already.
SELF_REPORTED_REASONS = frozenset({R.EXIT_CODE, R.POD_FAILURE_POLICY})
