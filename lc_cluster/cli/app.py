"""The `lc-cluster` command: one typer app; each command group lives in its own module."""

from __future__ import annotations

import sys

import typer

from lc_cluster.errors import LcError

app = typer.Typer(
    name="lc-cluster",
    help="Provision GPU hosts and serve LongCat-Flash / DeepSeek-V4-Flash with vLLM or SGLang on Slurm.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def main() -> None:
    from lc_cluster.cli import catalog_cmds, plan_cmd

    catalog_cmds.register(app)
    plan_cmd.register(app)
    try:
        app()
    except LcError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(exc.exit_code) from None
