"""Printing for the CLI: JSON for scripts, rich tables for people. Nothing here decides anything."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from lc_cluster.schemas import Kind


# Whether a failure is reported as JSON on stdout too: set while the command line is parsed, by the --json option
# itself, so a "--json" that is another option's value (--engine-arg --json) does not switch it on.
_json_errors = False


def json_mode(value: bool) -> bool:
    """The --json option's parse callback."""
    global _json_errors
    _json_errors = _json_errors or value
    return value


def json_errors() -> bool:
    return _json_errors


def emit_json(value: Any, kind: Kind | None = None) -> None:
    """Print VALUE; KIND names its contract (lc_cluster/schemas/KIND.json), which it must carry and keep."""
    if kind is not None:
        from lc_cluster import schemas

        schemas.check(kind, value)
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


def literal(text: object) -> str:
    """Text from outside (a node's output, a client's error, a record) for a Rich line with markup of its own:
    its brackets printed, not read as markup ('[/bold]' would raise), its control characters shown, not acted upon."""
    from rich.markup import escape

    from lc_cluster.http_client import printable

    return escape(printable(str(text)))


def table(title: str, columns: list[str], rows: Iterable[Iterable[object]]) -> None:
    from rich.table import Table
    from rich.text import Text

    from lc_cluster.http_client import printable

    t = Table(title=title, title_justify="left")
    for column in columns:
        t.add_column(column)
    for row in rows:
        # A string is shown as it is, never read as markup (cells hold what nodes and records said); a cell with a
        # style of ours comes as a Text.
        t.add_row(*(cell if isinstance(cell, Text) else Text(printable(str(cell))) for cell in row))
    console().print(t)
