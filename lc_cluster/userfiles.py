"""Reading the files users write (model files, cluster files): one line for every way they can be wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lc_cluster.errors import LcError

# A model or cluster file is a few KB; anything far larger is a wrong path (a checkpoint, a log), not read whole.
MAX_BYTES = 1024 * 1024


def read_yaml(path: Path, error: type[LcError] = LcError) -> Any:
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise error(f"{path}: larger than {MAX_BYTES // 1024} KiB, not a model or cluster file: check the path")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
