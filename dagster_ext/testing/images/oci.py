"""OCI image plumbing with Debian's tools: layer tarballs, umoci for the image layout, skopeo to push.

Layers are written by Python's `tarfile` with fixed owners and mtimes, so the same files give the same
layer digest on every build: an unchanged layer is never pushed or unpacked twice. umoci appends them
verbatim (`umoci raw add-layer`) and edits the config; skopeo copies a tag into a registry.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path

from dagster_ext.testing.cluster.errors import ImageBuildError

PathFilter = Callable[[Path], bool]
"""Given a path relative to the tree root, True to leave it (and what is under it) out of the layer."""


def run_tool(argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    if shutil.which(argv[0]) is None:
        raise ImageBuildError(f"{argv[0]} not found: run scripts/setup.sh (Debian package {argv[0]})")
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).splitlines()[-30:])
        raise ImageBuildError(f"{' '.join(argv[:3])} ... failed (exit {result.returncode}):\n{tail}")
    return result.stdout


def write_layer(tar_path: Path, root: Path, *, prefix: str = "", skip: PathFilter = lambda _p: False) -> Path:
    """Tar the tree under `root` (placed at `prefix` in the image) reproducibly: sorted, owned by root,
    mtime 0. Hard links become copies; device nodes are left out (a container gets its own /dev)."""
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
        for parent in _parents(prefix):
            tar.addfile(_dir_info(parent))
        for path in _walk(root, skip):
            rel = path.relative_to(root)
            name = str(Path(prefix) / rel) if prefix else str(rel)
            info = tar.gettarinfo(str(path), arcname=name)
            if info is None or info.ischr() or info.isblk() or info.isfifo():
                continue
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            if info.isreg():
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    return tar_path


def write_files_layer(tar_path: Path, files: dict[str, tuple[bytes, int]]) -> Path:
    """A layer of a few generated files: {path in the image: (content, mode)}."""
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(p) for name in files for p in Path(name).parents if str(p) not in ("", ".", "/")})
        for directory in dirs:
            tar.addfile(_dir_info(directory.lstrip("/")))
        for name, (content, mode) in sorted(files.items()):
            info = tarfile.TarInfo(name.lstrip("/"))
            info.size, info.mode, info.mtime = len(content), mode, 0
            tar.addfile(info, io.BytesIO(content))
    return tar_path


def _parents(prefix: str) -> list[str]:
    if not prefix:
        return []
    parts = Path(prefix.strip("/")).parts
    return [str(Path(*parts[: i + 1])) for i in range(len(parts))]


def _dir_info(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
    return info


def _walk(root: Path, skip: PathFilter) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not skip((base / d).relative_to(root)))
        if base != root:
            yield base
        for name in sorted(filenames):
            path = base / name
            if not skip(path.relative_to(root)):
                yield path
        for name in dirnames:  # symlinks to directories are not descended by os.walk: add them
            if (base / name).is_symlink():
                yield base / name


class Layout:
    """One OCI image layout directory holding tags of our images."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def ref(self, tag: str) -> str:
        return f"{self.path}:{tag}"

    def ensure(self) -> Layout:
        if not (self.path / "index.json").exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            run_tool(["umoci", "init", "--layout", str(self.path)])
        return self

    def has(self, tag: str) -> bool:
        if not (self.path / "index.json").exists():
            return False
        return tag in run_tool(["umoci", "ls", "--layout", str(self.path)]).split()

    def new(self, tag: str) -> None:
        run_tool(["umoci", "new", "--image", self.ref(tag)])

    def add_layer(self, tag: str, tar: Path, *, new_tag: str, comment: str) -> None:
        argv = ["umoci", "raw", "add-layer", "--image", self.ref(tag), "--tag", new_tag]
        argv += ["--history.comment", comment, "--history.created", "1970-01-01T00:00:00Z", str(tar)]
        run_tool(argv)

    def configure(
        self,
        tag: str,
        *,
        env: dict[str, str],
        cmd: list[str],
        workdir: str = "/",
        entrypoint: tuple[str, ...] = (),
    ) -> None:
        argv = ["umoci", "config", "--image", self.ref(tag), "--no-history", "--clear=config.env"]
        argv += ["--clear=config.entrypoint"] + [f"--config.entrypoint={part}" for part in entrypoint]
        argv += ["--created", "1970-01-01T00:00:00Z", "--config.workingdir", workdir]
        argv += ["--clear=config.cmd"] + [f"--config.cmd={part}" for part in cmd]
        argv += [f"--config.env={k}={v}" for k, v in env.items()]
        run_tool(argv)

    def archive(self, tag: str, target: Path, *, reference: str) -> None:
        """Write `tag` as a docker-archive tarball that names it `reference`."""
        run_tool(
            ["skopeo", "copy", "--quiet", f"oci:{self.ref(tag)}", f"docker-archive:{target}:{reference}"]
        )

    def push(self, tag: str, destination: str) -> None:
        """Copy `tag` to `docker://destination` (a plain-HTTP loopback registry)."""
        argv = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{self.ref(tag)}"]
        run_tool([*argv, f"docker://{destination}"])
