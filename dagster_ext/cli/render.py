"""`dagster-ext render`: print the run and step Job manifests a job would get, each field
annotated with the configuration layer that set it.

Nothing is sent to Kubernetes and no secret value is resolved: secrets appear by name
(`secretKeyRef`, `envFrom`), and `env_vars: [KEY]` entries that would be read from the launching
process's environment are shown as placeholders.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import yaml

from dagster_ext.cli.loading import JobInfo, StepInfo, job_info, load_repository, select_steps
from dagster_ext.errors import ConfigError
from dagster_ext.k8s.config_schema import launcher_config_schema, normalized
from dagster_ext.k8s.launcher.manifest import RunRenderInputs, render_run_from
from dagster_ext.k8s.spec import PRECEDENCE, annotated_yaml
from dagster_ext.k8s.spec.bounds import DEPTH_REASON, MAX_DOCUMENT_BYTES, check_bounds
from dagster_ext.k8s.step_pods import StepRenderInputs, render_step

SAMPLE_RUN_ID = "aaa0b6f8-b717-4aef-a4aa-4e1c590b960f"
CONTAINER_CONTEXT_ENV = "DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT"
CURRENT_IMAGE_ENV = "DAGSTER_CURRENT_IMAGE"
RUN_ARGS_PLACEHOLDER = "<ExecuteRunArgs JSON, serialized at launch>"
STEP_ARGS_PLACEHOLDER = "<compressed ExecuteStepArgs, serialized at launch>"


@click.command("render")
@click.option("-f", "--python-file", help="Code location file, as for `dagster api grpc -f`.")
@click.option("-m", "--module-name", help="Code location module, as for `dagster api grpc -m`.")
@click.option("-a", "--attribute", help="Definitions attribute (needed if the file defines several).")
@click.option("-d", "--working-directory", help="Directory to load the code location from.")
@click.option("--job", "job_name", required=True, help="Dagster job to render.")
@click.option("--op", "ops", multiple=True, help="Step key, op name or asset key path (repeatable).")
@click.option("--instance", "instance_path", type=click.Path(exists=True), help="dagster.yaml (or its dir).")
@click.option("--container-context", help=f"Code location container context JSON [${CONTAINER_CONTEXT_ENV}].")
@click.option("--executor-config", help="Step executor config: YAML text or a YAML file.")
@click.option("--image", help=f"Code location image [${CURRENT_IMAGE_ENV}, else the launcher's job_image].")
@click.option("--run-id", default=SAMPLE_RUN_ID, show_default=True, help="Run id for names and labels.")
@click.option("--location-name", help="Code location name (the dagster/code-location label).")
@click.option("--show", type=click.Choice(["all", "run", "steps"]), default="all", show_default=True)
@click.option(
    "--inherit-run-tags/--no-inherit-run-tags",
    default=None,
    help="Step pods include the job/run-level dagster-k8s/config tag [the executor's inherit_run_tags, "
    "default yes].",
)
@click.option("--plain", is_flag=True, help="Omit the provenance comments.")
def render(**options: Any) -> None:
    """Print the final run and step K8s Job manifests with each field's source layer."""
    try:
        text = _render(**options)
    except ConfigError as err:
        click.echo(f"Error: {err}", err=True)
        sys.exit(2)
    click.echo(text, nl=False)


def _render(
    *,
    python_file: str | None,
    module_name: str | None,
    attribute: str | None,
    working_directory: str | None,
    job_name: str,
    ops: Sequence[str],
    instance_path: str | None,
    container_context: str | None,
    executor_config: str | None,
    image: str | None,
    run_id: str,
    location_name: str | None,
    show: str,
    inherit_run_tags: bool | None,
    plain: bool,
) -> str:
    try:
        repository = load_repository(
            python_file=python_file,
            module_name=module_name,
            attribute=attribute,
            working_directory=working_directory,
        )
    except ConfigError:
        raise
    except Exception as err:  # user code failed to import: report it without our traceback
        raise click.ClickException(f"could not load the code location: {type(err).__name__}: {err}") from err
    job = job_info(repository, job_name)
    inputs = _Inputs(
        launcher_config=_launcher_config(instance_path),
        container_context=container_context or os.environ.get(CONTAINER_CONTEXT_ENV),
        executor_config=_executor_config(executor_config),
        image=image or os.environ.get(CURRENT_IMAGE_ENV),
        run_id=run_id,
        location_name=location_name,
    )
    documents = []
    if show in ("all", "run"):
        documents.append(_document(f"Run worker Job of job {job.name}", _render_run(job, inputs), plain))
    if show in ("all", "steps"):
        for step in select_steps(job, ops):
            title = f"Step worker Job of step {step.key} (op {step.op_name})"
            rendered = render_step(step_inputs(job, step, inputs, inherit_run_tags=inherit_run_tags))
            documents.append(_document(title, (rendered.manifest, rendered.provenance), plain))
    header = f"# Layers, lowest precedence first: defaults < {' < '.join(PRECEDENCE)} < dagster-ext\n"
    return ("" if plain else header) + "---\n".join(documents)


class _Inputs:
    def __init__(
        self,
        *,
        launcher_config: Mapping[str, Any] | None,
        container_context: str | None,
        executor_config: Mapping[str, Any],
        image: str | None,
        run_id: str,
        location_name: str | None,
    ) -> None:
        self.launcher_config = launcher_config
        self.container_context = container_context
        self.executor_config = executor_config
        self.image = image
        self.run_id = run_id
        self.location_name = location_name


def _render_run(job: JobInfo, inputs: _Inputs) -> tuple[dict[str, Any], Mapping[str, str]]:
    """The launcher's own render function, on the definitions' tags instead of a run's."""
    rendered = render_run_from(
        RunRenderInputs(
            launcher_config=inputs.launcher_config or {},
            run_id=inputs.run_id,
            dagster_job=job.name,
            args=["dagster", "api", "execute_run", RUN_ARGS_PLACEHOLDER],
            container_context=inputs.container_context,
            code_location_image=inputs.image,
            code_location=inputs.location_name,
            run_tags=job.tags,
        )
    )
    return rendered.manifest, rendered.provenance


def step_inputs(
    job: JobInfo, step: StepInfo, inputs: _Inputs, *, inherit_run_tags: bool | None
) -> StepRenderInputs:
    """What the K8s step executor would read from the step's handler context (no environment:
    `env_vars: [KEY]` entries stay placeholders)."""
    executor_config = dict(inputs.executor_config)
    if inherit_run_tags is not None:
        executor_config["inherit_run_tags"] = inherit_run_tags
    return StepRenderInputs(
        run_id=inputs.run_id,
        dagster_job=job.name,
        step_key=step.key,
        op_name=step.op_name,
        compressed_step_args=STEP_ARGS_PLACEHOLDER,
        executor_config=executor_config,
        launcher_config=inputs.launcher_config,
        container_context=inputs.container_context,
        code_location_image=inputs.image,
        code_location=inputs.location_name,
        run_tags=job.tags,
        step_tags=step.tags,
    )


def _document(title: str, rendered: tuple[dict[str, Any], Mapping[str, str]], plain: bool) -> str:
    manifest, provenance = rendered
    if plain:
        return yaml.safe_dump(manifest, sort_keys=False, width=10**9)
    return f"# {title}\n" + annotated_yaml(manifest, provenance)


def _launcher_config(instance_path: str | None) -> Mapping[str, Any] | None:
    """`run_launcher.config` of a dagster.yaml, whatever the launcher module: dagster_k8s's and
    ours read the same keys (ours is a superset).
    """
    if instance_path is None:
        return {}
    path = Path(instance_path)
    if path.is_dir():
        path = path / "dagster.yaml"
    instance = _load_yaml(path.read_text(), where=str(path))
    launcher = instance.get("run_launcher") or {}
    if not isinstance(launcher, Mapping):
        raise ConfigError("expected a mapping", path="run_launcher")
    config = launcher.get("config") or {}
    if not isinstance(config, Mapping):
        raise ConfigError("expected a mapping", path="run_launcher.config")
    if not _is_k8s_launcher(launcher, config):
        return None  # as the step executor sees it under a launcher that is not a K8s one
    resolved: Mapping[str, Any] = _resolve_env_sources(config, path="run_launcher.config")
    return _as_loaded(str(launcher.get("module") or ""), resolved)


def _as_loaded(module: str, config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The launcher config as the executor reads it from the instance's launcher object
    (`run_context.launcher_config_of`): schema defaults filled in, every key present for ours,
    the set keys for dagster-k8s's."""
    from dagster_ext.dagster_compat.definitions import convert_potential_field, process_config

    result = process_config(convert_potential_field(launcher_config_schema()).config_type, dict(config))
    if not result.success or not isinstance(result.value, dict):
        reasons = ", ".join(sorted({error.reason.value for error in result.errors or []}))
        raise ConfigError(
            f"does not match the K8s run launcher's config schema ({reasons})", path="run_launcher.config"
        )
    value = normalized(result.value)
    if module.startswith("dagster_k8s"):
        return {key: item for key, item in value.items() if item is not None}
    return value


def _is_k8s_launcher(launcher: Mapping[str, Any], config: Mapping[str, Any]) -> bool:
    """The rule of `run_context.launcher_config_of`, applied to the dagster.yaml entry."""
    module = str(launcher.get("module") or "")
    return "job_namespace" in config or module.startswith(("dagster_k8s", "dagster_ext.k8s"))


def _executor_config(value: str | None) -> Mapping[str, Any]:
    """Executor config YAML (a file or inline); a whole run config's `execution` block works too."""
    if not value:
        return {}
    text = Path(value).read_text() if _is_file(value) else value
    config: Mapping[str, Any] = _load_yaml(text, where="--executor-config")
    execution = config.get("execution")
    if isinstance(execution, Mapping):  # run config: execution: {config: ...} or {<executor>: {config: ...}}
        inner = execution.get("config")
        if inner is None and len(execution) == 1:
            inner = (next(iter(execution.values())) or {}).get("config")
        config = inner or {}
    if not isinstance(config, Mapping):
        raise ConfigError("expected a mapping", path="--executor-config")
    return config


def _is_file(value: str) -> bool:
    """Inline YAML can be longer than a file name may be (`is_file` raises then)."""
    try:
        return Path(value).is_file()
    except OSError:
        return False


def _load_yaml(text: str, *, where: str) -> Mapping[str, Any]:
    """PyYAML recurses per nesting level, so size is checked before and depth after loading
    (a document too deep for the interpreter's stack is reported the same way)."""
    if len(text.encode("utf-8", errors="replace")) > MAX_DOCUMENT_BYTES:
        raise ConfigError(f"larger than {MAX_DOCUMENT_BYTES // 1024} KiB", path=where)
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(_yaml_problem(err), path=where) from err
    except RecursionError as err:
        raise ConfigError(DEPTH_REASON, path=where) from err
    check_bounds(value, path=where)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError("expected a YAML mapping", path=where)
    return value


def _yaml_problem(err: yaml.YAMLError) -> str:
    """Where and what, without the snippet of the document PyYAML quotes (it may hold a secret)."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or "cannot be parsed"
    where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
    return f"not valid YAML: {problem}{where}"


def _resolve_env_sources(value: Any, *, path: str) -> Any:
    """Dagster's `{env: VAR}` StringSource values, read from this process's environment."""
    if isinstance(value, Mapping):
        if set(value) == {"env"} and isinstance(value["env"], str):
            if value["env"] not in os.environ:
                raise ConfigError(f"environment variable {value['env']} is not set", path=path)
            return os.environ[value["env"]]
        return {key: _resolve_env_sources(item, path=f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve_env_sources(item, path=f"{path}[{index}]") for index, item in enumerate(value)]
    return value
