"""Materialise a pod's volumes as host directories under the state dir.

Supported: emptyDir, configMap, secret, downwardAPI, projected (serviceAccountToken via the
TokenRequest API bound to the pod, configMap, secret, downwardAPI) and hostPath. Files are
written directly (no `..data` symlink swap) and are not refreshed while the pod runs.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from dagster_ext.testing.kubelet.environment import Data, PodContext, field_value, resource_value
from dagster_ext.testing.kubelet.errors import ContainerConfigError, VolumeSetupError

JsonDict = dict[str, Any]
ROOT_CA_CONFIG_MAP = "kube-root-ca.crt"
DEFAULT_TOKEN_EXPIRATION_S = 3607


class VolumeSources(Protocol):
    def config_map(self, namespace: str, name: str) -> Data | None: ...

    def secret(self, namespace: str, name: str) -> Data | None: ...

    def token(self, namespace: str, service_account: str, *, spec: JsonDict) -> str: ...

    def root_ca(self) -> bytes | None: ...


def _write(directory: Path, relative: str, content: bytes, mode: int) -> None:
    normalised = posixpath.normpath(relative)
    if normalised.startswith(("/", "..")):
        raise VolumeSetupError(f"volume item path {relative!r} must stay inside the volume")
    target = directory / normalised
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(content)
    os.chmod(tmp, mode)
    tmp.replace(target)


def _project_data(directory: Path, data: Data, source: JsonDict, *, what: str, default_mode: int) -> None:
    """Write all keys, or only `items` (key → path, optional mode)."""
    items = source.get("items")
    if not items:
        for key, value in data.items():
            _write(directory, key, value, default_mode)
        return
    for item in items:
        key = str(item["key"])
        if key not in data:
            if source.get("optional"):
                continue
            raise VolumeSetupError(f"{what} references non-existent config key: {key}")
        _write(directory, str(item["path"]), data[key], int(item.get("mode") or default_mode))


class VolumeBuilder:
    def __init__(self, sources: VolumeSources) -> None:
        self._sources = sources

    def materialise(self, ctx: PodContext, pod_dir: Path) -> dict[str, str]:
        """volume name → host path for every volume of the pod; raises VolumeSetupError."""
        paths: dict[str, str] = {}
        for volume in (ctx.pod.get("spec") or {}).get("volumes") or ():
            name = str(volume["name"])
            directory = pod_dir / "volumes" / name
            paths[name] = self._one(ctx, volume, directory)
        return paths

    def _one(self, ctx: PodContext, volume: JsonDict, directory: Path) -> str:
        if "hostPath" in volume:
            return self._host_path(volume["hostPath"])
        directory.mkdir(parents=True, exist_ok=True)
        if "emptyDir" in volume:
            pass
        elif "configMap" in volume:
            self._config_map(
                ctx, volume["configMap"], directory, int(volume["configMap"].get("defaultMode") or 0o644)
            )
        elif "secret" in volume:
            source = {**volume["secret"], "name": volume["secret"].get("secretName")}
            self._secret(ctx, source, directory, int(source.get("defaultMode") or 0o644))
        elif "downwardAPI" in volume:
            source = volume["downwardAPI"]
            self._downward(ctx, source, directory, int(source.get("defaultMode") or 0o644))
        elif "projected" in volume:
            self._projected(ctx, volume["projected"], directory)
        else:
            kinds = sorted(set(volume) - {"name"})
            raise VolumeSetupError(f"volume type {kinds} is not supported by the dagster-ext kubelet")
        return str(directory)

    @staticmethod
    def _host_path(source: JsonDict) -> str:
        path = str(source["path"])
        if source.get("type") == "DirectoryOrCreate":
            Path(path).mkdir(parents=True, exist_ok=True)
        elif not os.path.exists(path) and source.get("type") not in (None, "", "FileOrCreate"):
            raise VolumeSetupError(f"hostPath type check failed: {path} does not exist")
        return path

    def _config_map(self, ctx: PodContext, source: JsonDict, directory: Path, default_mode: int) -> None:
        name = str(source.get("name") or "")
        data = self._sources.config_map(ctx.namespace, name)
        if data is None and name == ROOT_CA_CONFIG_MAP and (ca := self._sources.root_ca()) is not None:
            data = {"ca.crt": ca}  # the root-ca publisher has not run yet: same CA, from our kubeconfig
        if data is None:
            if source.get("optional"):
                return
            raise VolumeSetupError(f'configmap "{name}" not found')
        _project_data(directory, data, source, what=f"configMap {name}", default_mode=default_mode)

    def _secret(self, ctx: PodContext, source: JsonDict, directory: Path, default_mode: int) -> None:
        name = str(source.get("name") or "")
        data = self._sources.secret(ctx.namespace, name)
        if data is None:
            if source.get("optional"):
                return
            raise VolumeSetupError(f'secret "{name}" not found')
        _project_data(directory, data, source, what=f"secret {name}", default_mode=default_mode)

    @staticmethod
    def _downward(ctx: PodContext, source: JsonDict, directory: Path, default_mode: int) -> None:
        containers = {str(c["name"]): c for c in (ctx.pod.get("spec") or {}).get("containers") or ()}
        for item in source.get("items") or ():
            try:
                if "fieldRef" in item:
                    value = field_value(ctx.pod, str(item["fieldRef"]["fieldPath"]), ctx.host_ip)
                else:
                    ref = item["resourceFieldRef"]
                    container = containers.get(str(ref.get("containerName") or ""), {})
                    value = resource_value(ctx, container, ref)
            except ContainerConfigError as err:
                raise VolumeSetupError(str(err)) from err
            _write(directory, str(item["path"]), value.encode(), int(item.get("mode") or default_mode))

    def _projected(self, ctx: PodContext, projected: JsonDict, directory: Path) -> None:
        mode = int(projected.get("defaultMode") or 0o644)
        for source in projected.get("sources") or ():
            if "serviceAccountToken" in source:
                self._token(ctx, source["serviceAccountToken"], directory, mode)
            elif "configMap" in source:
                self._config_map(ctx, source["configMap"], directory, mode)
            elif "secret" in source:
                self._secret(ctx, source["secret"], directory, mode)
            elif "downwardAPI" in source:
                self._downward(ctx, source["downwardAPI"], directory, mode)
            else:
                raise VolumeSetupError(f"projected source {sorted(source)} is not supported")

    def _token(self, ctx: PodContext, source: Mapping[str, Any], directory: Path, mode: int) -> None:
        meta = ctx.pod["metadata"]
        spec: JsonDict = {
            "expirationSeconds": int(source.get("expirationSeconds") or DEFAULT_TOKEN_EXPIRATION_S),
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]},
        }
        if source.get("audience"):
            spec["audiences"] = [str(source["audience"])]
        account = str((ctx.pod.get("spec") or {}).get("serviceAccountName") or "default")
        token = self._sources.token(ctx.namespace, account, spec=spec)
        _write(directory, str(source.get("path") or "token"), token.encode(), mode)
