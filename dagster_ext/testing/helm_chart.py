"""Render the official Dagster chart and the dagster-ext chart offline, with the real helm.

The official chart's values schema refers to Kubernetes object schemas on the web; offline, a copy
of the chart points them at definitions generated from the Kubernetes OpenAPI spec in the Go module
cache (the one the local cluster is built from), so `helm template` still validates every value.
Shared by the fast rendering tests and the end-to-end `helm install` tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHART_ENV = "DAGSTER_HELM_CHART"
"""Environment variable naming the official Dagster chart (a directory with Chart.yaml)."""
SHARED_CHART = Path("..") / "shared" / "charts" / "dagster"
"""Where the offline copy of the chart lives, relative to the repository root."""
SCHEMA_HOST = "https://kubernetesjsonschema.dev/v1.18.0/_definitions.json"
HELM_TIMEOUT_S = 120


class HelmError(RuntimeError):
    """helm exited non-zero; the message is its output (helm's errors name the offending key)."""


@dataclass(frozen=True)
class ChartLocation:
    path: Path | None
    reason: str  # where it was found, or why it was not


def find_dagster_chart(repo_root: Path, environ: Mapping[str, str] | None = None) -> ChartLocation:
    """`$DAGSTER_HELM_CHART`, else `../shared/charts/dagster` from the repository root."""
    env = os.environ if environ is None else environ
    given = env.get(CHART_ENV)
    if given:
        path = Path(given)
        if (path / "Chart.yaml").is_file():
            return ChartLocation(path, f"${CHART_ENV}")
        return ChartLocation(None, f"${CHART_ENV}={given} has no Chart.yaml")
    shared = (repo_root / SHARED_CHART).resolve()
    if (shared / "Chart.yaml").is_file():
        return ChartLocation(shared, str(SHARED_CHART))
    return ChartLocation(
        None, f"the official Dagster chart is not here: set ${CHART_ENV} or provide {SHARED_CHART}"
    )


def kubernetes_swagger(gomodcache: Path | None = None) -> Path | None:
    """The newest `k8s.io/kubernetes@v*/api/openapi-spec/swagger.json` in the Go module cache."""
    roots = [gomodcache] if gomodcache else _gomodcache_candidates()
    for root in roots:
        found = sorted((root / "k8s.io").glob("kubernetes@v*/api/openapi-spec/swagger.json"))
        if found:
            return found[-1]
    return None


def _gomodcache_candidates() -> list[Path]:
    env = [
        os.environ.get("GOMODCACHE"),
        *(f"{p}/pkg/mod" for p in os.environ.get("GOPATH", "").split(":") if p),
    ]
    return [Path(p) for p in (*env, str(Path.home() / "go" / "pkg" / "mod")) if p]


def write_definitions(swagger: Path, target: Path) -> Path:
    """A `_definitions.json` as kubernetesjsonschema.dev serves it: the spec's definitions, with
    int-or-string and quantities accepting numbers (YAML users write `port: 80`, `cpu: 1`)."""
    definitions = json.loads(swagger.read_text())["definitions"]
    definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {
        "oneOf": [{"type": "string"}, {"type": "integer"}]
    }
    definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {
        "oneOf": [{"type": "string"}, {"type": "number"}]
    }
    target.write_text(json.dumps({"definitions": definitions}))
    return target


@dataclass(frozen=True)
class OfflineChart:
    path: Path
    k8s_schemas: str | None  # None: Kubernetes object schemas validated; else why they are not


def offline_chart(chart: Path, workdir: Path, swagger: Path | None = None) -> OfflineChart:
    """A writable copy of `chart` whose schemas need no network.

    With the Kubernetes spec, references point at local definitions; without it they are
    replaced by an empty schema (the chart's own keys are still validated) and the reason is kept.
    """
    copy = workdir / chart.name
    shutil.copytree(chart, copy)
    for path in copy.rglob("*"):
        path.chmod(path.stat().st_mode | 0o200)
    spec = swagger or kubernetes_swagger()
    reason = None
    if spec is not None:
        url = write_definitions(spec, workdir / "_definitions.json").as_uri()
    else:
        url, reason = None, "no k8s.io/kubernetes swagger.json in the Go module cache"
    for schema in copy.rglob("values.schema.json"):
        tree = json.loads(schema.read_text())
        schema.write_text(json.dumps(_point_refs(tree, url)))
    return OfflineChart(copy, reason)


def _point_refs(node: Any, url: str | None) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMA_HOST):
            return {} if url is None else {**node, "$ref": url + ref[len(SCHEMA_HOST) :]}
        return {key: _point_refs(value, url) for key, value in node.items()}
    if isinstance(node, list):
        return [_point_refs(item, url) for item in node]
    return node


def helm_template(
    helm: Path,
    chart: Path,
    *,
    release: str,
    namespace: str,
    values: Sequence[Path] = (),
    set_values: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The objects `helm template` renders (schema validation on), in order."""
    args = [str(helm), "template", release, str(chart), "--namespace", namespace]
    for path in values:
        args += ["--values", str(path)]
    for key, value in (set_values or {}).items():
        args += ["--set-string" if isinstance(value, str) else "--set", f"{key}={value}"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=HELM_TIMEOUT_S, check=False)
    if result.returncode != 0:
        raise HelmError(result.stderr.strip() or result.stdout.strip())
    return [doc for doc in yaml.safe_load_all(result.stdout) if isinstance(doc, dict)]


def find_object(objects: Sequence[Mapping[str, Any]], kind: str, name_suffix: str) -> dict[str, Any]:
    """The one object of `kind` whose name ends with `name_suffix`."""
    found = [
        dict(o) for o in objects if o.get("kind") == kind and str(o["metadata"]["name"]).endswith(name_suffix)
    ]
    if len(found) != 1:
        names = sorted(str(o["metadata"]["name"]) for o in objects if o.get("kind") == kind)
        raise LookupError(f"expected one {kind} named *{name_suffix}, found {len(found)} among {names}")
    return found[0]
