"""Compare command lines the way the engines' argument parsers read them."""

from __future__ import annotations

import json
import shlex
from collections import Counter
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "golden"


def golden(name: str, **values: str) -> list[str]:
    text = (GOLDEN / f"{name}.sh").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    command = " ".join(lines).replace("\\ ", " ")
    for key, value in values.items():
        command = command.replace(f"${key}", value)
    return shlex.split(command)


def _value(token: str) -> Any:
    """JSON arguments are compared by value: the guides' spacing inside them is not part of the command."""
    if token.startswith("{"):
        return json.dumps(json.loads(token), sort_keys=True)
    return token


def options(argv: list[str]) -> tuple[list[str], Counter[tuple[str, Any]]]:
    """(leading program words and positionals, multiset of (flag, value-or-None)); argparse ignores order."""
    head: list[str] = []
    opts: Counter[tuple[str, Any]] = Counter()
    i = 0
    while i < len(argv) and not argv[i].startswith("--"):
        head.append(argv[i])
        i += 1
    while i < len(argv):
        flag = argv[i]
        assert flag.startswith("--"), f"stray positional {flag!r} in {argv}"
        if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            opts[(flag, _value(argv[i + 1]))] += 1
            i += 2
        else:
            opts[(flag, None)] += 1
            i += 1
    return head, opts


def flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]
