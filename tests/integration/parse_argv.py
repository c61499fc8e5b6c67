"""Run inside an engine's or a router's own environment: parse each command line (JSON list of argv lists on stdin)
with that program's real argument parser, and print a JSON list of errors (null where the argv parsed)."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Callable
from typing import Any


def _vllm_parser() -> Any:
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    return make_arg_parser(FlexibleArgumentParser())


def _vllm() -> Callable[[list[str]], Any]:
    parse: Callable[[list[str]], Any] = _vllm_parser().parse_args
    return parse


def aliases() -> None:
    """Every option string of vLLM's parser, grouped by the setting it writes (its dest)."""
    groups: dict[str, list[str]] = {}
    for option, action in _vllm_parser()._option_string_actions.items():
        groups.setdefault(action.dest, []).append(option)
    print(json.dumps(groups))


def _router(module: str) -> Callable[[list[str]], Any]:
    parse: Callable[[list[str]], Any] = __import__(module, fromlist=["parse_router_args"]).parse_router_args
    return parse


def main(kind: str) -> None:
    parse = _vllm() if kind == "vllm" else _router(f"{kind}.launch_router")
    errors: list[str | None] = []
    for argv in json.load(sys.stdin):
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                parse(argv)
            errors.append(None)
        except SystemExit:
            errors.append(stderr.getvalue().strip().splitlines()[-1] if stderr.getvalue().strip() else "exit")
    print(json.dumps(errors))


if __name__ == "__main__":
    aliases() if sys.argv[1] == "aliases" else main(sys.argv[1])
