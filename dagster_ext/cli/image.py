"""`dagster-ext image build`: the local cluster's images, from Debian packages and this checkout.

`cluster up` and the pytest fixtures run the same build when an image is stale, so this command is
for looking at the result, or for another cluster: `--archive DIR` writes docker-archive tarballs for
`kind load image-archive`.
"""

from __future__ import annotations

from pathlib import Path

import click

import dagster_ext
from dagster_ext.testing.cluster.binaries import stderr_progress
from dagster_ext.testing.cluster.errors import ClusterError


@click.group()
def image() -> None:
    """The user-code, busybox and sandbox images of the local cluster."""


@image.command()
@click.option(
    "--archive",
    "archive_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write each image as a docker-archive tarball into this directory (for kind).",
)
def build(archive_dir: Path | None) -> None:
    """Build what is stale; print each image with its tag in the image cache."""
    from dagster_ext.testing.images.catalog import build_images, image_layout, write_archives

    root = Path(dagster_ext.__file__).resolve().parent.parent
    try:
        built = build_images(root, progress=stderr_progress)
        for name, tag in built.items():
            click.echo(f"{name}\t{image_layout().ref(tag)}")
        if archive_dir is not None:
            for path in write_archives(built, archive_dir):
                click.echo(str(path))
    except ClusterError as err:
        raise click.ClickException(str(err)) from err
