"""Render the package's Jinja2 templates (lc_cluster/templates/): undefined names are errors, and every value is
shell-quoted."""

from __future__ import annotations

import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
# The only names a value may leave for the shell to expand, each node filling in its own at run time.
RUNTIME_NAMES = ("HEAD_IP", "NODE_IP", "NODE_INDEX", "SLURM_JOB_ID", "LC_JOB_DIR", "LC_API_KEY", "LC_PROC")
# IP_OF_NODE_<n>: another node's address, for routers and instances whose head is not node 0. LC_SECRET_<NAME>: a
# secret runtime.env value, which reaches the job through sbatch's environment only.
SECRET_PREFIX = "LC_SECRET_"
_PLACEHOLDER = re.compile(
    r"\$\{(" + "|".join(RUNTIME_NAMES) + rf"|IP_OF_NODE_[1-9][0-9]{{0,3}}|{SECRET_PREFIX}[A-Za-z_][A-Za-z0-9_]*)\}}"
)


class Shell(str):
    """Text that is already safe to paste into a shell script."""


def quote(value: Any) -> Shell:
    if isinstance(value, Shell):
        return value
    return Shell(shlex.quote(str(value)))


def word(value: str) -> Shell:
    """One shell word: run-time placeholders expand, everything else stays literal, whatever it contains."""
    parts: list[str] = []
    pos = 0
    for match in _PLACEHOLDER.finditer(value):
        if match.start() > pos:
            parts.append(shlex.quote(value[pos : match.start()]))
        parts.append(f'"${{{match.group(1)}}}"')
        pos = match.end()
    if pos < len(value) or not parts:
        parts.append(shlex.quote(value[pos:]))
    return Shell("".join(parts))


def words(values: Any) -> Shell:
    return Shell(" ".join(word(str(v)) for v in values))


def literal_words(values: Any) -> Shell:
    """Words from the user: nothing in them expands, not even the run-time placeholders."""
    return Shell(" ".join(shlex.quote(str(v)) for v in values))


@cache
def _environment(shell: bool) -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        finalize=quote if shell else None,
    )
    env.filters["word"] = word
    env.filters["words"] = words
    env.filters["literal_words"] = literal_words
    return env


def render(name: str, *, shell: bool = True, **context: Any) -> str:
    """Render templates/NAME. shell=False for configuration files that are not shell (slurm.conf)."""
    result: str = _environment(shell).get_template(name).render(**context)
    return result
