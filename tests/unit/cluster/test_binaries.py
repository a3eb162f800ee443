"""Binary lookup: the pinned version, the cache layout and the errors (no Go build here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dagster_ext.testing.cluster.binaries import GOMOD_DIR, cache_root, ensure_binaries, pinned_version
from dagster_ext.testing.cluster.errors import BinaryBuildError


def test_every_staging_replace_uses_the_pinned_patch() -> None:
    major_minor_patch = pinned_version().lstrip("v").split(".")
    replaces = re.findall(r"^\s*(k8s\.io/\S+) => \1 (v\S+)$", (GOMOD_DIR / "go.mod").read_text(), re.M)
    assert len(replaces) >= 30
    assert {version for _, version in replaces} == {f"v0.{major_minor_patch[1]}.{major_minor_patch[2]}"}


def _fake_binaries(directory: Path) -> None:
    directory.mkdir(parents=True)
    names = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
    for name in names:
        (directory / name).write_text("#!/bin/sh\n")
        (directory / name).chmod(0o755)


def test_cached_binaries_are_returned_without_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", "/nonexistent")  # no `go`: a build attempt would fail
    _fake_binaries(cache_root() / pinned_version())
    paths = ensure_binaries()
    assert paths.kube_apiserver == tmp_path / "dagster-ext" / "k8s-bin" / pinned_version() / "kube-apiserver"


def test_an_unbuildable_version_says_which_one_can_be_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(BinaryBuildError, match=re.escape(pinned_version())):
        ensure_binaries("v1.0.0")


def test_missing_go_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BinaryBuildError, match="Go toolchain"):
        ensure_binaries(progress=lambda line: None)
    assert not (cache_root() / pinned_version()).exists()  # nothing half-built left behind


def test_bin_dir_override_must_hold_every_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_EXT_K8S_BIN_DIR", str(tmp_path))
    with pytest.raises(BinaryBuildError, match="kube-apiserver"):
        ensure_binaries()
    _fake_binaries(tmp_path / "bin")
    monkeypatch.setenv("DAGSTER_EXT_K8S_BIN_DIR", str(tmp_path / "bin"))
    assert ensure_binaries().etcd == tmp_path / "bin" / "etcd"
