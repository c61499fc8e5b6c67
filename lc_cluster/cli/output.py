"""Printing for the CLI: JSON for scripts, rich tables for people. Nothing here decides anything."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2) + "\n")


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    # Lines are never broken at 80 columns when the output is a pipe or a log: people and tests grep them whole.
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def shell_line(env: Mapping[str, str], argv: Iterable[str], literal_args: Iterable[str] = ()) -> str:
    """A line to paste into a shell: run-time placeholders in the plan stay expandable; the user's own arguments and
    everything else stay literal."""
    from lc_cluster.rendering import quote, word

    return " ".join(
        [*(f"{k}={word(v)}" for k, v in env.items()), *(word(a) for a in argv), *(quote(a) for a in literal_args)]
    )


def table(title: str, columns: list[str], rows: Iterable[Iterable[object]]) -> None:
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for column in columns:
        t.add_column(column)
    for row in rows:
        t.add_row(*(str(cell) for cell in row))
    console().print(t)
