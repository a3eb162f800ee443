"""The committed Kubernetes field table must match the installed client (regenerate on upgrade)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _generator():  # scripts/ is not a package
    spec = importlib.util.spec_from_file_location("gen_k8s_schema", ROOT / "scripts" / "gen_k8s_schema.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_schema_table_is_up_to_date() -> None:
    generated = _generator().render_module()
    committed = (ROOT / "dagster_ext" / "k8s" / "spec" / "_k8s_schema.py").read_text()
    assert committed == generated, "stale: run `python scripts/gen_k8s_schema.py`"


def test_table_covers_the_sections_models() -> None:
    from dagster_ext.k8s.spec._k8s_schema import MODELS, REQUIRED

    for model in (
        "V1Container",
        "V1PodSpec",
        "V1ObjectMeta",
        "V1JobSpec",
        "V1PodTemplateSpec",
        "V1EnvVar",
        "V1Volume",
        "V1VolumeMount",
        "V1ResourceRequirements",
        "V1Toleration",
        "V1Affinity",
    ):
        assert model in MODELS
    assert MODELS["V1PodSpec"]["node_selector"] == ("nodeSelector", "dict[str, str]")
    assert "name" in REQUIRED["V1EnvVar"]


def test_spec_package_does_not_import_kubernetes() -> None:
    import subprocess
    import sys

    code = "import sys, dagster_ext.k8s.spec; print('kubernetes' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
