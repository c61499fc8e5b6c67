"""`lc-cluster init`: write a commented cluster file to start from."""

from __future__ import annotations

from typing import Annotated

import typer


def init(
    name: Annotated[str, typer.Option("--name", help="Cluster name; the file is clusters/NAME.yaml.")] = "default",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write an example cluster file, every key commented, for you to edit."""
    from lc_cluster.cluster import EXAMPLE, cluster_path
    from lc_cluster.errors import LcError

    path = cluster_path(name)
    if path.exists() and not force:
        raise LcError(f"{path} exists: edit it, or pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(EXAMPLE.format(name=path.stem))
    typer.echo(f"wrote {path}: edit it, then 'lc-cluster serve MODEL --cluster {path.stem}'")


def register(app: typer.Typer) -> None:
    app.command()(init)
