"""The `lc-cluster` command: one typer app; each command group lives in its own module."""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import typer

from lc_cluster.errors import INTERNAL_EXIT, LcError, PlanRefused


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


def _fail(message: str, code: int, limit: str | None = None, traceback_file: str | None = None) -> NoReturn:
    """Exit with CODE; in JSON mode (a parsed --json, never a scan of argv) stdout carries the reason too."""
    from lc_cluster.cli.output import emit_json, json_errors
    from lc_cluster.schemas import versioned

    _error(message, "internal error" if code == INTERNAL_EXIT else "error")
    if json_errors():
        kind = {1: "world", INTERNAL_EXIT: "internal"}.get(code, "input")
        emit_json(versioned("error", {"error": " ".join(message.split()), "kind": kind, "exit_code": code,
                                      "limit": limit, "traceback_file": traceback_file}), "error")  # fmt: skip
    raise SystemExit(code)


def _save_traceback() -> str | None:
    """The traceback of a bug, in a file only its owner reads (it may quote paths and values)."""
    import tempfile
    import traceback

    from lc_cluster.paths import state_home

    try:
        folder = state_home() / "crashes"
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="traceback-", suffix=".txt", dir=folder)
        with os.fdopen(fd, "w") as f:
            f.write(traceback.format_exc())
    except OSError:
        return None
    return name


def _repeated_option(command: Any, args: list[str]) -> str | None:
    """The first option given twice where the command keeps one value: Click keeps the last without a word, so
    `--tp 8 ... --tp 4` (or --api-key then --no-api-key) would plan what the user did not read back."""
    while hasattr(command, "commands") and args and args[0] in command.commands:
        command, args = command.commands[args[0]], args[1:]
    options = {o: p for p in command.params if p.param_type_name == "option" for o in (*p.opts, *p.secondary_opts)}
    first: dict[str, str] = {}
    tokens = iter(args)
    for token in tokens:
        if token == "--":
            break
        name = token.split("=", 1)[0]
        param = options.get(name)
        if param is None:
            continue  # an argument, or an option Click itself refuses
        if not param.is_flag and not param.count and "=" not in token:
            next(tokens, None)  # its value, whatever it looks like (--engine-arg --json)
        if param.multiple or param.count:
            continue
        if param.name in first:
            given = f"{name} given twice" if first[param.name] == name else f"{first[param.name]} and {name} both given"
            return f"{given}: give it once (the last would win without a word)"
        first[param.name] = name
    return None


def main() -> None:
    # Typer 0.29 carries its own copy of Click; older releases use Click itself.
    try:
        from typer._click import exceptions as click_errors
    except ImportError:  # pragma: no cover - depends on the installed typer
        from click import exceptions as click_errors  # type: ignore[no-redef]

    try:
        command = typer.main.get_command(build())
        repeated = _repeated_option(command, sys.argv[1:])
        if repeated:
            raise LcError(repeated)
        # Not standalone: a usage error comes back here and is printed as one line, like every other refusal.
        code = command(standalone_mode=False)
        raise SystemExit(code if isinstance(code, int) else 0)
    except click_errors.UsageError as exc:
        if exc.ctx is not None and exc.__class__.__name__ == "NoArgsIsHelpError":
            sys.stdout.write(exc.ctx.get_help() + "\n")
            raise SystemExit(0) from None
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        _fail(f"{exc.format_message()}{where}", 2)
    except click_errors.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except LcError as exc:
        _fail(str(exc), exc.exit_code, exc.limit if isinstance(exc, PlanRefused) else None)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    except Exception as exc:  # a bug of ours: still one line, and the traceback in a file
        if os.environ.get("LC_CLUSTER_DEBUG"):
            raise
        saved = _save_traceback()
        where = f"the traceback is in {saved}" if saved else "run again with LC_CLUSTER_DEBUG=1 for the traceback"
        _fail(f"this is a bug in lc-cluster, please report it: {exc.__class__.__name__}: {exc}; {where}",
              INTERNAL_EXIT, traceback_file=saved)  # fmt: skip
