"""The `lc-cluster` command: one typer app; each command group lives in its own module."""

from __future__ import annotations

import os
import sys

import typer

from lc_cluster.errors import LcError, PlanRefused


def build() -> typer.Typer:
    from lc_cluster.cli import (
        bench_cmd,
        canary_cmd,
        catalog_cmds,
        doctor_cmd,
        init_cmd,
        jobs_cmd,
        mirror_cmd,
        plan_cmd,
        sandbox_cmd,
        serve_cmd,
        up_cmd,
    )  # fmt: skip

    app = typer.Typer(
        name="lc-cluster",
        help="Provision GPU hosts and serve LongCat-Flash / DeepSeek-V4-Flash with vLLM or SGLang on Slurm.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    commands = (catalog_cmds, plan_cmd, init_cmd, serve_cmd, jobs_cmd, doctor_cmd, bench_cmd, canary_cmd, sandbox_cmd,
                up_cmd, mirror_cmd)  # fmt: skip
    for module in commands:
        module.register(app)
    return app


def _error(message: str, label: str = "error") -> None:
    """One line on stderr whatever the message holds: a user's value may carry newlines or terminal controls."""
    text = " ".join(message.split())
    sys.stderr.write(f"{label}: " + "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text) + "\n")


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
        _error(f"{exc.format_message()}{where}")
        raise SystemExit(2) from None
    except click_errors.ClickException as exc:
        _error(exc.format_message())
        raise SystemExit(exc.exit_code) from None
    except LcError as exc:
        _error(str(exc))
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
        _error(
            f"{exc.__class__.__name__}: {exc}; run again with LC_CLUSTER_DEBUG=1 for the traceback and report it",
            "internal error",
        )
        raise SystemExit(1) from None
