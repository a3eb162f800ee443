"""The configuration layers of a run pod and a step pod, in precedence order (later wins):

    run_launcher -> code_location -> run_tags -> executor -> op_tags -> per_step_k8s_config

Run pods use the first three. Step pods use all six; unlike dagster-k8s they include the
job/run tags by default (`inherit_run_tags=True`), so a step pod inherits what its run pod got
(node selector, tolerations, env): a setting put on a Dagster job reaches all its steps. Every
caller (launcher, step executor, Celery K8s mode, `execute_k8s_job`) builds its stack here, so the
order is defined once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from dagster_ext.k8s.spec.config import K8sConfig, k8s_config_from_tags
from dagster_ext.k8s.spec.context import (
    SourceConfig,
    parse_container_context,
    parse_executor_config,
    parse_launcher_config,
)
from dagster_ext.k8s.spec.merging import SourcedSections, merge_sourced, provenance, strip

RUN_LAUNCHER: Final = "run_launcher"
CODE_LOCATION: Final = "code_location"
RUN_TAGS: Final = "run_tags"
EXECUTOR: Final = "executor"
OP_TAGS: Final = "op_tags"
PER_STEP: Final = "per_step_k8s_config"
K8S_JOB_CALL: Final = "execute_k8s_job"
PRECEDENCE: Final = (RUN_LAUNCHER, CODE_LOCATION, RUN_TAGS, EXECUTOR, OP_TAGS, PER_STEP)


@dataclass(frozen=True)
class Layer:
    """One named source of pod configuration.

    `image` is this source's default image (launcher/executor `job_image`, the code location's
    image); any layer's `container_config.image` beats every default image.
    """

    name: str
    config: K8sConfig = field(default_factory=K8sConfig)
    namespace: str | None = None
    image: str | None = None

    @classmethod
    def from_source(cls, name: str, source: SourceConfig, *, image: str | None = None) -> Layer:
        return cls(name, source.k8s_config, source.namespace, image or source.image)


@dataclass(frozen=True)
class MergedConfig:
    """The merged layers: the config, and for every field the layer that set it."""

    config: K8sConfig
    provenance: Mapping[str, str]
    namespace: str | None = None
    namespace_layer: str | None = None
    image: str | None = None
    image_layer: str | None = None
    sourced: SourcedSections = field(default_factory=dict, repr=False, compare=False)

    def layer_of(self, path: str) -> str | None:
        """Which layer set `path` (e.g. `pod_spec_config.nodeSelector[node-group.dp.ssup2]`)."""
        return self.provenance.get(path)


def merge_layers(layers: Sequence[Layer]) -> MergedConfig:
    """Fold the layers in order; namespace and default image: the last layer that sets one."""
    sourced: SourcedSections = {}
    namespace = namespace_layer = image = image_layer = None
    for layer in layers:
        sourced = merge_sourced(sourced, layer.config, layer.name)
        if layer.namespace:
            namespace, namespace_layer = layer.namespace, layer.name
        if layer.image:
            image, image_layer = layer.image, layer.name
    config = K8sConfig.from_sections({name: strip(tree) for name, tree in sourced.items()})
    paths: dict[str, str] = {}
    for name, tree in sourced.items():
        paths.update(provenance(tree, name))
    return MergedConfig(config, paths, namespace, namespace_layer, image, image_layer, sourced)


def build_run_layers(
    *,
    launcher_config: Mapping[str, Any] | None = None,
    container_context: Mapping[str, Any] | str | None = None,
    code_location_image: str | None = None,
    run_tags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Layer]:
    """The layers of a run worker pod: instance launcher config, code location, run tags.

    `launcher_config` is the run launcher's config (None: no K8s run launcher, e.g. a
    step executor under another launcher). `environ` resolves `env_vars: [KEY]` entries (pass
    `os.environ` in the launching process; None shows them as unresolved placeholders).
    """
    launcher = (
        SourceConfig() if launcher_config is None else parse_launcher_config(launcher_config, environ=environ)
    )
    layers = [Layer.from_source(RUN_LAUNCHER, launcher)]
    code_location = parse_container_context(container_context, environ=environ)
    layers.append(Layer.from_source(CODE_LOCATION, code_location, image=code_location_image))
    layers.append(Layer(RUN_TAGS, k8s_config_from_tags(run_tags or {})))
    return layers


def build_step_layers(
    *,
    launcher_config: Mapping[str, Any] | None = None,
    container_context: Mapping[str, Any] | str | None = None,
    code_location_image: str | None = None,
    run_tags: Mapping[str, Any] | None = None,
    executor_config: Mapping[str, Any] | None = None,
    step_tags: Mapping[str, Any] | None = None,
    op_name: str | None = None,
    inherit_run_tags: bool = True,
    environ: Mapping[str, str] | None = None,
) -> list[Layer]:
    """The layers of a step worker pod (also used by Celery K8s mode).

    `per_step_k8s_config` of the executor config is looked up by `op_name` (the op's name; for
    assets the asset's op, e.g. `examples__generated_numbers`).
    """
    layers = build_run_layers(
        launcher_config=launcher_config,
        container_context=container_context,
        code_location_image=code_location_image,
        run_tags=run_tags if inherit_run_tags else None,
        environ=environ,
    )
    executor, per_step = parse_executor_config(executor_config or {}, environ=environ)
    layers.append(Layer.from_source(EXECUTOR, executor))
    layers.append(Layer(OP_TAGS, k8s_config_from_tags(step_tags or {})))
    layers.append(Layer(PER_STEP, per_step.get(op_name or "", K8sConfig())))
    return layers


def build_external_layers(
    *,
    launcher_config: Mapping[str, Any] | None = None,
    container_context: Mapping[str, Any] | str | None = None,
    run_tags: Mapping[str, Any] | None = None,
    step_tags: Mapping[str, Any] | None = None,
    call_config: K8sConfig | None = None,
    call_namespace: str | None = None,
    inherit_run_tags: bool = True,
    inherit_step_tags: bool = True,
    executor_config: Mapping[str, Any] | None = None,
    op_name: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Layer]:
    """The layers of a Job started by `execute_k8s_job` from inside a step: the step's pod
    config, so a K8s Job started from an op runs where and as its step runs, plus the call's arguments.

    `executor_config` is the K8s step executor's config when the step runs under it: its
    `step_k8s_config` and `per_step_k8s_config[op_name]` sit where they sit for the step pod
    (after the run tags, around the op tags), so the Job starts from the step's pod as it is.
    """
    executor, per_step = (
        (SourceConfig(), {})
        if executor_config is None
        else parse_executor_config(executor_config, environ=environ)
    )
    launcher = (
        SourceConfig()
        if launcher_config is None
        else parse_launcher_config(launcher_config, environ=environ, dagster_env=False)
    )
    layers = [
        Layer.from_source(RUN_LAUNCHER, launcher),
        Layer.from_source(CODE_LOCATION, parse_container_context(container_context, environ=environ)),
        Layer(RUN_TAGS, k8s_config_from_tags(run_tags or {}) if inherit_run_tags else K8sConfig()),
        Layer.from_source(EXECUTOR, executor),
        Layer(OP_TAGS, k8s_config_from_tags(step_tags or {}) if inherit_step_tags else K8sConfig()),
        Layer(PER_STEP, per_step.get(op_name or "", K8sConfig())),
        Layer(K8S_JOB_CALL, call_config or K8sConfig(), call_namespace),
    ]
    return [Layer(layer.name, layer.config, layer.namespace) for layer in layers]  # no default images
