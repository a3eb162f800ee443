"""Complete Kubernetes Job manifests (plain camelCase dicts, ready for the API) from merged layers.

A manifest is itself a merge, so provenance covers every field of it:

    defaults (backoffLimit 0, restartPolicy Never, TTL, container name ...)
      <- the merged layers, each section placed where it belongs in a Job
      <- what dagster-ext must control (name, identity labels, args, system env vars)

Only the `defaults` can be overridden by user config; the last group always wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from dagster_ext.errors import ConfigError
from dagster_ext.k8s.quantities import parse_quantity
from dagster_ext.k8s.spec.labels import Component, common_labels, identity_labels
from dagster_ext.k8s.spec.layers import MergedConfig
from dagster_ext.k8s.spec.manifest_checks import check_manifest
from dagster_ext.k8s.spec.merging import (
    Branch,
    Leaf,
    Seq,
    Tree,
    deep_merge,
    join,
    prune_nulls,
    source,
    strip,
)
from dagster_ext.k8s.spec.merging import provenance as tree_provenance

DEFAULTS: Final = "defaults"
SYSTEM: Final = "dagster-ext"
IMAGE_ARGUMENT: Final = "image argument"
CONTAINER_NAME: Final = "dagster"
DEFAULT_TTL_SECONDS: Final = 24 * 60 * 60
DEFAULT_IMAGE_PULL_POLICY: Final = "Always"  # dagster-k8s's default, kept for compatibility
POD_SPEC_PATH: Final = ("spec", "template", "spec")
# section -> where it goes in a Job; container_config is placed as the main container
_PLACEMENT: Final[Mapping[str, tuple[str, ...]]] = {
    "job_config": (),
    "job_metadata": ("metadata",),
    "job_spec_config": ("spec",),
    "pod_template_spec_metadata": ("spec", "template", "metadata"),
    "pod_spec_config": POD_SPEC_PATH,
}


@dataclass(frozen=True)
class JobIdentity:
    """What a Job runs; becomes its identity labels."""

    component: Component
    run_id: str
    dagster_job: str
    op: str | None = None
    code_location: str | None = None


@dataclass(frozen=True)
class RenderedK8sJob:
    """A Job manifest and, for every field, the layer that set it."""

    name: str
    namespace: str | None
    manifest: dict[str, Any]
    provenance: Mapping[str, str]

    @property
    def container_name(self) -> str:
        return str(self.manifest["spec"]["template"]["spec"]["containers"][0]["name"])

    def layer_of(self, path: str) -> str | None:
        """e.g. `spec.template.spec.containers[dagster].resources.limits.cpu` -> `op_tags`."""
        return self.provenance.get(path)


@dataclass(frozen=True)
class ContainerRun:
    """The main container's command line and the env vars dagster-ext sets for it."""

    args: Sequence[str] | None = None
    command: Sequence[str] | None = None
    env: Sequence[Mapping[str, Any]] = ()


def render_k8s_job(
    merged: MergedConfig,
    *,
    name: str,
    identity: JobIdentity,
    run: ContainerRun,
    image: str | None = None,
    ttl_seconds_after_finished: int = DEFAULT_TTL_SECONDS,
    instance_label: str = "dagster",
    version_label: str | None = None,
) -> RenderedK8sJob:
    """The shared core of the run, step and external Job renderers."""
    labels = common_labels(instance=instance_label, version=version_label)
    tree = deep_merge(_defaults(labels, ttl_seconds_after_finished), _placed(merged))
    container_name = main_container_name(merged)
    tree = deep_merge(tree, _system(name, identity, run, container_name, merged))
    tree = _with_image(tree, container_name, image=image, merged=merged)
    tree = _canonical_order(_main_container_first(prune_nulls(tree) or tree, container_name))
    manifest = strip(tree)
    paths = tree_provenance(tree)
    check_requests_within_limits(manifest, paths)
    check_manifest(manifest)
    return RenderedK8sJob(name, manifest["metadata"].get("namespace"), manifest, paths)


def _nest(path: Sequence[str], tree: Tree) -> Tree:
    for key in reversed(path):
        tree = Branch({key: tree}, tree.layer)
    return tree


def _placed(merged: MergedConfig) -> Tree:
    """The merged sections arranged as a Job; keeps each field's layer."""
    tree: Tree = Branch({}, DEFAULTS)
    for section, path in _PLACEMENT.items():
        if section in merged.sourced:
            tree = deep_merge(tree, _nest(path, merged.sourced[section]))
    container = merged.sourced.get("container_config", Branch({}, DEFAULTS))
    assert isinstance(container, Branch)
    if "name" not in container.items:
        container = Branch({"name": Leaf(CONTAINER_NAME, DEFAULTS), **container.items}, container.layer)
    containers = Seq((container,), container.layer)
    return deep_merge(tree, _nest((*POD_SPEC_PATH, "containers"), containers))


def main_container_name(merged: MergedConfig) -> str:
    """`dagster`, unless `container_config.name` renames the main container."""
    name = merged.config.container_config.get("name")
    return name if isinstance(name, str) and name else CONTAINER_NAME


def _defaults(labels: Mapping[str, str], ttl_seconds: int) -> Tree:
    return source(
        {
            "metadata": {"labels": dict(labels)},
            "spec": {
                "backoffLimit": 0,
                "ttlSecondsAfterFinished": ttl_seconds,
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {"restartPolicy": "Never", "automountServiceAccountToken": True},
                },
            },
        },
        DEFAULTS,
    )


def _system(
    name: str, identity: JobIdentity, run: ContainerRun, container_name: str, merged: MergedConfig
) -> Tree:
    labels = identity_labels(
        component=identity.component,
        run_id=identity.run_id,
        dagster_job=identity.dagster_job,
        op=identity.op,
        code_location=identity.code_location,
    )
    container: dict[str, Any] = {"name": container_name}
    for key, value in (("command", run.command), ("args", run.args)):
        if value is not None:
            container[key] = list(value)
    if run.env:
        container["env"] = [dict(item) for item in run.env]
    system = source(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "labels": labels},
            "spec": {"template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}},
        },
        SYSTEM,
    )
    if merged.namespace and merged.namespace_layer:
        namespace = _nest(("metadata", "namespace"), Leaf(merged.namespace, merged.namespace_layer))
        system = deep_merge(namespace, system)
    return system


def _with_image(tree: Tree, container_name: str, *, image: str | None, merged: MergedConfig) -> Tree:
    containers = strip(tree)["spec"]["template"]["spec"]["containers"]
    main = next(item for item in containers if item.get("name") == container_name)
    additions: dict[str, Tree] = {}
    if not main.get("image"):
        if image:
            additions["image"] = Leaf(image, IMAGE_ARGUMENT)
        elif merged.image and merged.image_layer:
            additions["image"] = Leaf(merged.image, merged.image_layer)
        else:
            raise ConfigError(
                "no image for the Job's container: set `container_config.image` in a dagster-k8s/config "
                "tag, run the code location with DAGSTER_CURRENT_IMAGE set (or `--image`), or set "
                "`job_image` on the run launcher or executor",
                path=f"spec.template.spec.containers[{container_name}].image",
            )
    if "imagePullPolicy" not in main:
        additions["imagePullPolicy"] = Leaf(DEFAULT_IMAGE_PULL_POLICY, DEFAULTS)
    if not additions:
        return tree
    patch = Branch({"name": Leaf(container_name, SYSTEM), **additions}, SYSTEM)
    return deep_merge(tree, _nest((*POD_SPEC_PATH, "containers"), Seq((patch,), SYSTEM)))


def _main_container_first(tree: Tree, container_name: str) -> Tree:
    """Dagster reads logs and exit status from the first container; sidecars come after it."""
    pod_spec = _get(tree, POD_SPEC_PATH)
    containers = pod_spec.items["containers"]
    assert isinstance(containers, Seq)
    main = [item for item in containers.items if strip(item).get("name") == container_name]
    rest = [item for item in containers.items if strip(item).get("name") != container_name]
    reordered = Branch(
        {**pod_spec.items, "containers": Seq((*main, *rest), containers.layer)}, pod_spec.layer
    )
    return _replace(tree, POD_SPEC_PATH, reordered)


# Fields shown first, in this order, wherever they occur; the rest keep their merge order.
_LEADING_KEYS: Final = (
    "apiVersion",
    "kind",
    "metadata",
    "spec",
    "name",
    "namespace",
    "labels",
    "annotations",
    "image",
    "imagePullPolicy",
    "command",
    "args",
    "env",
    "envFrom",
    "resources",
)


def _canonical_order(tree: Tree) -> Tree:
    """Readable manifests: `kind` before `spec`, a container's `name` and `image` first."""
    if isinstance(tree, Seq):
        return Seq(tuple(_canonical_order(item) for item in tree.items), tree.layer)
    if not isinstance(tree, Branch):
        return tree
    keys = [key for key in _LEADING_KEYS if key in tree.items]
    keys += [key for key in tree.items if key not in keys]
    return Branch({key: _canonical_order(tree.items[key]) for key in keys}, tree.layer)


def _get(tree: Tree, path: Sequence[str]) -> Branch:
    for key in path:
        assert isinstance(tree, Branch)
        tree = tree.items[key]
    assert isinstance(tree, Branch)
    return tree


def _replace(tree: Tree, path: Sequence[str], new: Tree) -> Tree:
    if not path:
        return new
    assert isinstance(tree, Branch)
    head, *rest = path
    return Branch({**tree.items, head: _replace(tree.items[head], rest, new)}, tree.layer)


def check_requests_within_limits(manifest: Mapping[str, Any], provenance: Mapping[str, str]) -> None:
    """The API server rejects a container whose request exceeds its limit. Layers can produce
    that combination (an op tag raises a request, the launcher set the limit), so the error
    names both values and the layers that set them.
    """
    problems = []
    for container in manifest["spec"]["template"]["spec"].get("containers", []):
        resources = container.get("resources") or {}
        limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
        base = f"spec.template.spec.containers[{container.get('name')}].resources"
        for resource, request in requests.items():
            limit = limits.get(resource)
            if limit is None or parse_quantity(request) <= parse_quantity(limit):
                continue
            request_path = join(f"{base}.requests", resource)
            limit_path = join(f"{base}.limits", resource)
            problems.append(
                f"{request_path}: the request (from {provenance.get(request_path, '?')}) exceeds "
                f"the limit (from {provenance.get(limit_path, '?')}); "
                "raise the limit or lower the request"
            )
    if problems:
        raise ConfigError("\n".join(problems))
