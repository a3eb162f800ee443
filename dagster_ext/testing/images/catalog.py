"""The images the local cluster serves from its loopback registry, and how they are made.

* `busybox` (docker.io/library/busybox:latest): Debian's static busybox and its applet links, so
  `execute_k8s_job(image="busybox", ...)` runs as written (its `Always` pull policy pulls from the
  loopback registry);
* the sandbox image (registry.k8s.io/pause:3.10): the same layer, sleeping;
* the user-code image (`USER_CODE_IMAGE`), see `user_code`;
* `CHART_INIT_IMAGE`: the user-code image with a `pg_isready` and an `nslookup` for the official
  Dagster chart's init containers, see `chart_init`.

`ensure_images` builds what is stale and pushes it; unchanged layers are neither rebuilt nor re-sent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dagster_ext.testing.cluster.errors import ImageBuildError
from dagster_ext.testing.images import chart_init, user_code
from dagster_ext.testing.images.oci import Layout, write_layer
from dagster_ext.testing.node.containerd import SANDBOX_IMAGE

USER_CODE_IMAGE = "dagster-ext/user-code:dev"
CHART_INIT_IMAGE = "dagster-ext/chart-init:dev"
BUSYBOX_IMAGE = "busybox"
_BUSYBOX = Path("/bin/busybox")
_BUSYBOX_ENV = {"PATH": "/bin"}

Progress = Callable[[str], None]


def images_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dagster-ext" / "images"


def repository_path(image: str) -> str:
    """`busybox` -> `library/busybox:latest`; the registry path our loopback registry serves it at."""
    name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
    first = name.split("/", 1)[0]
    if "." in first or ":" in first or first == "localhost":
        name = name.split("/", 1)[1]
    elif "/" not in name:
        name = f"library/{name}"
    return f"{name}:{tag}"


def _busybox_layer(tar: Path) -> Path:
    if not _BUSYBOX.exists():
        raise ImageBuildError("/bin/busybox not found: run scripts/setup.sh (Debian package busybox-static)")
    root = Path(tempfile.mkdtemp(prefix="dagster-ext-busybox-"))
    try:
        (root / "bin").mkdir()
        shutil.copy2(_BUSYBOX, root / "bin" / "busybox")
        applets = subprocess.run([str(_BUSYBOX), "--list"], capture_output=True, text=True, check=True)
        for applet in applets.stdout.split():
            if applet != "busybox":
                (root / "bin" / applet).symlink_to("busybox")
        for directory in ("etc", "tmp", "root", "proc", "sys", "dev", "var"):
            (root / directory).mkdir()
        (root / "tmp").chmod(0o1777)
        (root / "etc" / "passwd").write_text(
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
        )
        (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
        return write_layer(tar, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _ensure_busybox(layout: Layout) -> tuple[str, str]:
    """Tags of the busybox and pause images (built once; the layer does not change)."""
    if not layout.has("busybox") or not layout.has("pause"):
        with tempfile.TemporaryDirectory() as tmp:
            tar = _busybox_layer(Path(tmp) / "busybox.tar")
            layout.new("busybox-empty")
            layout.add_layer("busybox-empty", tar, new_tag="busybox", comment="debian busybox-static")
            layout.configure("busybox", env=_BUSYBOX_ENV, cmd=["sh"])
            layout.add_layer("busybox-empty", tar, new_tag="pause", comment="debian busybox-static")
            layout.configure("pause", env=_BUSYBOX_ENV, cmd=["/bin/sleep", "2147483647"])
    return "busybox", "pause"


def image_layout() -> Layout:
    return Layout(images_cache() / "oci")


def build_images(repo_root: Path, *, progress: Progress) -> dict[str, str]:
    """Build what is stale into the image cache's OCI layout; returns image name -> tag there."""
    cache = images_cache()
    cache.mkdir(parents=True, exist_ok=True)
    layout = image_layout().ensure()
    busybox, pause = _ensure_busybox(layout)
    progress("building the user-code image (the first build takes minutes; then seconds)")
    code = user_code.build(layout, cache, repo_root)
    init = chart_init.ensure(layout, code)
    return {BUSYBOX_IMAGE: busybox, SANDBOX_IMAGE: pause, USER_CODE_IMAGE: code, CHART_INIT_IMAGE: init}


def ensure_images(registry: str, repo_root: Path, *, progress: Progress) -> dict[str, str]:
    """Build what is stale and push every image to `registry` (host:port); returns image -> tag."""
    started = time.monotonic()
    built = build_images(repo_root, progress=progress)
    layout = image_layout()
    for image, tag in built.items():
        layout.push(tag, f"{registry}/{repository_path(image)}")
    progress(f"images ready in {time.monotonic() - started:.0f}s")
    return built


def write_archives(built: dict[str, str], directory: Path) -> list[Path]:
    """docker-archive tarballs named like the images, for `kind load image-archive` on kind."""
    directory.mkdir(parents=True, exist_ok=True)
    layout, written = image_layout(), []
    for image, tag in built.items():
        name = repository_path(image).replace("/", "_").replace(":", "_") + ".tar"
        target = directory / name
        target.unlink(missing_ok=True)
        layout.archive(tag, target, reference=docker_reference(image))
        written.append(target)
    return written


def docker_reference(image: str) -> str:
    """The fully qualified name containerd gives `image` (`busybox` -> docker.io/library/busybox:latest)."""
    path = repository_path(image)
    first = image.split("/", 1)[0]
    host = first if ("." in first or ":" in first) and "/" in image else "docker.io"
    return f"{host}/{path}"
