"""The JSON contracts of every `--json` output: one JSON Schema file each, shipped in the package, whose
`schema_version` const is the version the output carries. Reading a version touches only the package's own files."""

from __future__ import annotations

import functools
import json
import os
import typing
from pathlib import Path
from typing import Any, Literal

Kind = Literal[
    "plan", "serve", "status", "doctor", "bench", "stop", "ask", "error", "models", "gpus", "canary", "mirror",
    "sandbox", "up", "inventory",
]  # fmt: skip
KINDS: tuple[Kind, ...] = typing.get_args(Kind)
_HERE = Path(__file__).parent
# Set by the test suite: every document printed is checked against its schema, so no output drifts from its contract.
CHECK_ENV = "LC_CLUSTER_CHECK_SCHEMAS"


def path(kind: Kind) -> Path:
    return _HERE / f"{kind}.json"


@functools.cache
def schema(kind: Kind) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path(kind).read_text())
    return loaded


def version(kind: Kind) -> int:
    value: int = schema(kind)["properties"]["schema_version"]["const"]
    return value


def versioned(kind: Kind, doc: dict[str, Any]) -> dict[str, Any]:
    """DOC with the version of its contract at the top."""
    return {"schema_version": version(kind), **doc}


def check(kind: Kind, doc: Any) -> None:
    """Raise where DOC breaks its schema, when the test suite asks for it (jsonschema is a test dependency)."""
    if not os.environ.get(CHECK_ENV):
        return
    import jsonschema

    jsonschema.validate(doc, schema(kind), format_checker=None)
