"""The `lc-cluster` command: one typer app; each command group lives in its own module."""

from __future__ import annotations

import os
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
    # Typer 0.29 carries its own copy of Click; older releases use Click itself.
    try:
        from typer._click import exceptions as click_errors
    except ImportError:  # pragma: no cover - depends on the installed typer
        from click import exceptions as click_errors  # type: ignore[no-redef]

    try:
        # Not standalone: a usage error comes back here and is printed as one line, like every other refusal.
        code = build()(standalone_mode=False)
        raise SystemExit(code if isinstance(code, int) else 0)
    except click_errors.UsageError as exc:
        if exc.ctx is not None and exc.__class__.__name__ == "NoArgsIsHelpError":
            sys.stdout.write(exc.ctx.get_help() + "\n")
            raise SystemExit(0) from None
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        sys.stderr.write(f"error: {' '.join(exc.format_message().split())}{where}\n")
        raise SystemExit(2) from None
    except click_errors.ClickException as exc:
        sys.stderr.write(f"error: {' '.join(exc.format_message().split())}\n")
        raise SystemExit(exc.exit_code) from None
    except LcError as exc:
        sys.stderr.write(f"error: {exc}\n")
        if "--json" in sys.argv[1:]:
            # Scripts reading stdout get the same reason, and the rule's name where a plan was refused.
            from lc_cluster.cli.output import emit_json

            emit_json({"error": str(exc), "limit": exc.limit if isinstance(exc, PlanRefused) else None})
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    except Exception as exc:  # a bug of ours: still one line, with a way to see more
        if os.environ.get("LC_CLUSTER_DEBUG"):
            raise
        sys.stderr.write(
            f"internal error: {exc.__class__.__name__}: {exc}; run again with LC_CLUSTER_DEBUG=1 for the traceback "
            "and report it\n"
        )
        raise SystemExit(1) from None
