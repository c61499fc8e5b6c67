"""Files the tool writes where other users may have been first (a group-writable log folder, a shared home): never
through a symlink or into a file someone else created, and a file that replaces another is complete or absent."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# O_NOFOLLOW: a planted symlink fails the open instead of redirecting the write; O_EXCL: so does any file already
# there, whoever made it and whatever its mode.
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW


def create(path: Path, text: str, mode: int) -> None:
    """Write TEXT to PATH, which must not exist yet (raises FileExistsError where anything is there)."""
    fd = os.open(path, _NEW, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def replace(path: Path, text: str, mode: int) -> None:
    """Write TEXT to PATH atomically: a new file beside it, renamed over it. A symlink at PATH is replaced, its
    target never written."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), mode)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
