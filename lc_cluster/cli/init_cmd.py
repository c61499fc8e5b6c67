"""`lc-cluster init`: write a commented cluster file to start from."""

from __future__ import annotations

from typing import Annotated

import typer


def init(
    name: Annotated[str, typer.Option("--name", help="Cluster name; the file is clusters/NAME.yaml.")] = "default",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write an example cluster file, every key commented, for you to edit."""
    from lc_cluster.cluster import write_example

    path = write_example(name, force)
    typer.echo(f"wrote {path}: edit it, then 'lc-cluster serve MODEL --cluster {path.stem}'")


def register(app: typer.Typer) -> None:
    app.command()(init)
