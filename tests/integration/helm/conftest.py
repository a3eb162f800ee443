"""Fixtures for the Helm tests: the real helm, the official chart (offline copy) and ours."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from dagster_ext.testing.helm_chart import OfflineChart, find_dagster_chart, helm_template, offline_chart

REPO_ROOT = Path(__file__).resolve().parents[3]
VALUES_DIR = REPO_ROOT / "helm-values"
OUR_CHART = VALUES_DIR / "charts" / "dagster-ext"
SHAPES = ("k8s-launcher", "k8s-step-executor", "celery")
# Not `dagster`: nothing in the values may depend on the release name.
RELEASE = "orchestra"
NAMESPACE = "data"

Render = Callable[..., list[dict[str, Any]]]
_HELM_BUILD_ERROR = pytest.StashKey[BaseException]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build helm (minutes on a first run) before any test starts, so the build never counts
    against a test's timeout. A failure is reported by every test that needs helm."""
    here = Path(__file__).parent
    if session.config.option.collectonly or not any(
        Path(str(item.path)).is_relative_to(here) for item in session.items
    ):
        return
    from dagster_ext.testing.cluster.helm import ensure_helm

    try:
        ensure_helm()
    except Exception as err:
        session.config.stash[_HELM_BUILD_ERROR] = err


@pytest.fixture(scope="session")
def helm(request: pytest.FixtureRequest) -> Path:
    from dagster_ext.testing.cluster.helm import ensure_helm

    error = request.config.stash.get(_HELM_BUILD_ERROR, None)
    if error is not None:
        pytest.fail(f"cannot build helm: {error}", pytrace=False)
    return ensure_helm()


@pytest.fixture(scope="session")
def dagster_chart(tmp_path_factory: pytest.TempPathFactory) -> OfflineChart:
    found = find_dagster_chart(REPO_ROOT)
    if found.path is None:
        pytest.skip(found.reason)
    return offline_chart(found.path, tmp_path_factory.mktemp("chart"))


@pytest.fixture(scope="session")
def render_dagster(helm: Path, dagster_chart: OfflineChart) -> Render:
    """Render the official chart with one shape's values (plus extra values files / --set)."""

    def render(
        shape: str,
        *,
        release: str = RELEASE,
        namespace: str = NAMESPACE,
        extra: Sequence[Path] = (),
        set_values: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        return helm_template(
            helm,
            dagster_chart.path,
            release=release,
            namespace=namespace,
            values=[VALUES_DIR / f"{shape}.yaml", *extra],
            set_values=set_values,
        )

    return render


@pytest.fixture(scope="session")
def render_ours(helm: Path) -> Render:
    def render(
        *,
        release: str = "dagster-ext",
        namespace: str = NAMESPACE,
        set_values: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        return helm_template(helm, OUR_CHART, release=release, namespace=namespace, set_values=set_values)

    return render
