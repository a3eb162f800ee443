"""The values files render with the official chart, pass its schema, and configure dagster-ext."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dagster_ext.testing.helm_chart import HelmError, OfflineChart, find_object

from .conftest import RELEASE, SHAPES, Render

pytestmark = pytest.mark.timeout(300)

PLACEHOLDER_IMAGE = "registry.example.com/your-team/dagster-app:0.1.0"


def _instance(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return yaml.safe_load(find_object(objects, "ConfigMap", "-instance")["data"]["dagster.yaml"])


def _daemon_environment(objects: list[dict[str, Any]]) -> dict[str, str]:
    """The daemon container's environment from its ConfigMap: what resolves `{env: ...}` sources."""
    return {str(k): str(v) for k, v in find_object(objects, "ConfigMap", "-daemon-env")["data"].items()}


def test_k8s_object_schemas_are_validated_offline(dagster_chart: OfflineChart) -> None:
    if dagster_chart.k8s_schemas is not None:
        pytest.skip(f"Kubernetes object schemas not validated: {dagster_chart.k8s_schemas}")
    schema = (dagster_chart.path / "values.schema.json").read_text()
    assert "kubernetesjsonschema.dev" not in schema and "_definitions.json" in schema


@pytest.mark.parametrize("shape", SHAPES)
def test_every_image_contains_dagster_ext(render_dagster: Render, shape: str) -> None:
    objects = render_dagster(shape)
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    assert {n.rsplit("-", 1)[-1] for n in deployments} >= {"webserver", "daemon", "code"}, sorted(deployments)
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert [c["image"] for c in pod["containers"]] == [PLACEHOLDER_IMAGE], name
        assert pod["serviceAccountName"] == "dagster-ext", name


@pytest.mark.parametrize("shape", SHAPES)
def test_the_instance_runs_dagster_ext_with_monitoring_and_retries(
    render_dagster: Render, shape: str
) -> None:
    instance = _instance(render_dagster(shape))
    assert instance["run_launcher"]["module"] == "dagster_ext.k8s"
    assert instance["run_launcher"]["class"] == "K8sRunLauncher"
    assert instance["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert instance["run_monitoring"]["enabled"] is True
    assert instance["run_retries"] == {"enabled": True, "max_retries": 2}
    for storage in ("run_storage", "event_log_storage", "schedule_storage"):
        assert instance[storage]["module"].startswith("dagster_postgres"), storage


@pytest.mark.parametrize("shape", SHAPES)
def test_the_launcher_config_validates_against_our_schema(
    render_dagster: Render, shape: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import Shape
    from dagster._config import process_config

    from dagster_ext.k8s import K8sRunLauncher

    objects = render_dagster(shape)
    for key, value in _daemon_environment(objects).items():
        monkeypatch.setenv(key, value)
    raw = _instance(objects)["run_launcher"]["config"]
    result = process_config(Shape(K8sRunLauncher.config_type()), raw)
    assert result.success, [e.message for e in result.errors or []]
    config = result.value
    assert config["job_namespace"] == "data"  # the release namespace, whatever the release is called
    assert config["env_config_maps"] == [f"{RELEASE}-dagster-pipeline-env"]
    assert config["service_account_name"] == "dagster-ext"
    launcher = K8sRunLauncher(**config)
    assert launcher.job_namespace == "data"


@pytest.mark.parametrize("shape", SHAPES)
def test_nothing_depends_on_the_release_name(render_dagster: Render, shape: str) -> None:
    """The names the launcher and the dagster-ext chart rely on are the same for any release."""
    for release in ("dagster", "orchestra"):
        objects = render_dagster(shape, release=release)
        config = _instance(objects)["run_launcher"]["config"]
        secret = find_object(objects, "Secret", "-postgresql-secret")
        assert secret["metadata"]["name"] == config["postgres_password_secret"] == "dagster-postgresql-secret"
        assert "instance_config_map" not in config
        assert not [o for o in objects if o["kind"] in ("Role", "RoleBinding", "ServiceAccount")], (
            "the chart's own, broader RBAC must be off: the dagster-ext chart ships the Role"
        )


@pytest.mark.parametrize("release", ["dagster", "orchestra", "my-dagster"])
def test_the_workers_mount_the_releases_instance(
    render_dagster: Render, render_ours: Render, release: str
) -> None:
    official = render_dagster("celery", release=release)
    ours = render_ours(set_values={"celery.enabled": True, "dagster.releaseName": release})
    deployment = find_object(ours, "Deployment", "-celery-default")
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    instance = volumes["dagster-instance"]["configMap"]["name"]
    assert instance == find_object(official, "ConfigMap", "-instance")["metadata"]["name"]
    user_env = next(e["configMapRef"]["name"] for e in pod["containers"][0]["envFrom"] if "configMapRef" in e)
    assert user_env == find_object(official, "ConfigMap", "-user-code-user-env")["metadata"]["name"]


def test_the_workers_are_probed_with_celery_status(render_ours: Render) -> None:
    ours = render_ours(set_values={"celery.enabled": True})
    container = find_object(ours, "Deployment", "-celery-default")["spec"]["template"]["spec"]["containers"][
        0
    ]
    assert container["command"][:3] == ["dagster-ext", "celery", "worker"]
    assert container["command"][container["command"].index("-q") + 1] == "dagster"
    assert container["command"][container["command"].index("-c") + 1] == "2"
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"][:3] == ["dagster-ext", "celery", "status"], probe
    broker = next(e for e in container["env"] if e["name"] == "DAGSTER_CELERY_BROKER_URL")
    assert broker["valueFrom"]["secretKeyRef"] == {
        "name": "dagster-ext-celery-broker",
        "key": "DAGSTER_CELERY_BROKER_URL",
    }
    assert container["resources"]["requests"] == {"cpu": "250m", "memory": "512Mi"}
    config = yaml.safe_load(find_object(ours, "ConfigMap", "-celery")["data"]["executor.yaml"])
    assert config == {"execution": {"config": {"broker": {"env": "DAGSTER_CELERY_BROKER_URL"}}}}


def test_one_deployment_per_worker_entry(render_ours: Render, tmp_path: Path, helm: Path) -> None:
    from dagster_ext.testing.helm_chart import helm_template

    from .conftest import OUR_CHART

    values = tmp_path / "workers.yaml"
    values.write_text(
        "celery:\n  enabled: true\n  workers:\n"
        "    - {name: default, queues: [dagster], slots: 4, replicas: 3}\n"
        "    - {name: snowflake, queues: [snowflake, warehouse], slots: 1, replicas: 1,"
        " resources: {limits: {memory: 8Gi}}}\n"
    )
    objects = helm_template(helm, OUR_CHART, release="dx", namespace="data", values=[values])
    workers = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    assert sorted(workers) == ["dx-dagster-ext-celery-default", "dx-dagster-ext-celery-snowflake"]
    snowflake = workers["dx-dagster-ext-celery-snowflake"]
    container = snowflake["spec"]["template"]["spec"]["containers"][0]
    assert snowflake["spec"]["replicas"] == 1
    assert container["command"][container["command"].index("-q") + 1] == "snowflake,warehouse"
    assert container["resources"] == {"limits": {"memory": "8Gi"}}


def test_the_code_location_resolves_the_broker_variable(render_dagster: Render) -> None:
    """The code server resolves the jobs' `broker: {env: ...}` when a run is launched."""
    objects = render_dagster("celery")
    pod = find_object(objects, "Deployment", "-user-code")["spec"]["template"]["spec"]
    secrets = [e["secretRef"]["name"] for e in pod["containers"][0]["envFrom"] if "secretRef" in e]
    assert "dagster-ext-celery-broker" in secrets


def test_the_workers_mount_extra_volumes(render_ours: Render, tmp_path: Path, helm: Path) -> None:
    from dagster_ext.testing.helm_chart import helm_template

    from .conftest import OUR_CHART

    values = tmp_path / "volumes.yaml"
    values.write_text(
        "celery:\n  enabled: true\n"
        "  volumes: [{name: outputs, persistentVolumeClaim: {claimName: dagster-outputs}}]\n"
        "  volumeMounts: [{name: outputs, mountPath: /outputs}]\n"
    )
    objects = helm_template(helm, OUR_CHART, release="dx", namespace="data", values=[values])
    pod = find_object(objects, "Deployment", "-celery-default")["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["dagster-instance", "executor-config", "outputs"]
    mounts = pod["containers"][0]["volumeMounts"]
    assert mounts[-1] == {"name": "outputs", "mountPath": "/outputs"}


@pytest.mark.parametrize(
    ("key", "wrong"),
    [
        ("dagsterDaemon.runMonitor.enabled", "runMonitor"),
        ("runLauncher.config.customRunLauncher.klass", "klass"),
    ],
)
def test_a_wrong_values_key_fails(render_dagster: Render, key: str, wrong: str) -> None:
    with pytest.raises(HelmError, match=f"additional properties '{wrong}' not allowed"):
        render_dagster("k8s-launcher", set_values={key: "x"})


def test_a_wrong_key_of_our_chart_fails(render_ours: Render) -> None:
    with pytest.raises(HelmError, match="workerz"):
        render_ours(set_values={"celery.workerz": "1"})


def test_a_wrong_k8s_object_fails_the_chart_schema(
    render_dagster: Render, dagster_chart: OfflineChart
) -> None:
    if dagster_chart.k8s_schemas is not None:
        pytest.skip(f"Kubernetes object schemas not validated: {dagster_chart.k8s_schemas}")
    with pytest.raises(HelmError, match="nodeSelector"):
        render_dagster("k8s-launcher", set_values={"dagsterDaemon.nodeSelector": "not-a-map"})
