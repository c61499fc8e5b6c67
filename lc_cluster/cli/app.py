"""The `lc-cluster` command: one typer app; each command group lives in its own module."""

from __future__ import annotations

import sys

import typer

from lc_cluster.errors import LcError, PlanRefused


def build() -> typer.Typer:
    from lc_cluster.cli import catalog_cmds, init_cmd, jobs_cmd, mirror_cmd, plan_cmd, sandbox_cmd, serve_cmd, up_cmd

    app = typer.Typer(
        name="lc-cluster",
        help="Provision GPU hosts and serve LongCat-Flash / DeepSeek-V4-Flash with vLLM or SGLang on Slurm.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for module in (catalog_cmds, plan_cmd, init_cmd, serve_cmd, jobs_cmd, sandbox_cmd, up_cmd, mirror_cmd):
        module.register(app)
    return app


def main() -> None:
    try:
        build()()
    except LcError as exc:
        sys.stderr.write(f"error: {exc}\n")
        if "--json" in sys.argv[1:]:
            # Scripts reading stdout get the same reason, and the rule's name where a plan was refused.
            from lc_cluster.cli.output import emit_json

            emit_json({"error": str(exc), "limit": exc.limit if isinstance(exc, PlanRefused) else None})
        raise SystemExit(exc.exit_code) from None
