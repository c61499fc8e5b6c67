#!/usr/bin/env python3
"""Fetch one model into a directory, resuming where an earlier run stopped, and verify every file.

Sources: a Hugging Face id ('org/name' or 'org/name@revision'; huggingface_hub downloads, resumes and knows the
expected sizes and hashes), or the absolute path of a copy on mounted storage (copied here, resuming partial files).
What was verified is remembered in DEST/.lc-verified.json by size and mtime, so a re-run hashes only changed files.
Prints one JSON line: files, bytes, fetched_files, fetched_bytes."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

LEDGER = ".lc-verified.json"
CHUNK = 8 << 20


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


class Ledger:
    """Files already verified: valid while the file here keeps its size and mtime, and the source its identity
    (size and mtime of a path source; size and hash on the hub)."""

    def __init__(self, dest: Path) -> None:
        self.path = dest / LEDGER
        try:
            self.entries: dict[str, list[object]] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.entries = {}

    def verified(self, name: str, target: Path, origin: str) -> bool:
        if not target.is_file():
            return False
        stat = target.stat()
        return self.entries.get(name) == [origin, stat.st_size, stat.st_mtime_ns]

    def source_changed(self, name: str, origin: str) -> bool:
        return name in self.entries and self.entries[name][0] != origin

    def record(self, name: str, target: Path, origin: str) -> None:
        stat = target.stat()
        self.entries[name] = [origin, stat.st_size, stat.st_mtime_ns]
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.entries, indent=1, sort_keys=True))
        tmp.replace(self.path)


def from_path(source: Path, dest: Path, verify: str, ledger: Ledger) -> tuple[int, int, int, int]:
    if not source.is_dir():
        raise SystemExit(f"source {source} is not a directory on this host (is the share mounted?)")
    files = sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith("."))
    fetched_files = fetched_bytes = total = 0
    for src in files:
        name, target, stat = str(src.relative_to(source)), dest / src.relative_to(source), src.stat()
        origin = f"{stat.st_size}:{stat.st_mtime_ns}"
        total += stat.st_size
        if ledger.verified(name, target, origin):
            continue
        expected = sha256(src) if verify == "sha256" else None
        if ledger.source_changed(name, origin) or not intact(target, stat.st_size, expected):
            fetched_bytes += copy_resuming(src, target)
            fetched_files += 1
            if not intact(target, stat.st_size, expected):
                target.unlink()
                raise SystemExit(f"{name}: differs from the source after copying (changed meanwhile?); removed it")
        ledger.record(name, target, origin)
    return len(files), total, fetched_files, fetched_bytes


def intact(target: Path, size: int, digest: str | None) -> bool:
    return target.is_file() and target.stat().st_size == size and (digest is None or sha256(target) == digest)


def copy_resuming(src: Path, target: Path) -> int:
    """Copy into TARGET.part, continuing after whatever an interrupted copy left there; returns bytes copied."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    start = part.stat().st_size if part.is_file() and part.stat().st_size <= src.stat().st_size else 0
    with src.open("rb") as fin, part.open("ab" if start else "wb") as fout:
        fin.seek(start)
        while block := fin.read(CHUNK):
            fout.write(block)
    os.replace(part, target)
    return src.stat().st_size - start


def from_hub(repo: str, dest: Path, verify: str, ledger: Ledger) -> tuple[int, int, int, int]:
    from huggingface_hub import HfApi, snapshot_download

    repo_id, _, revision = repo.partition("@")
    info = HfApi().model_info(repo_id, revision=revision or None, files_metadata=True)
    expected = {s.rfilename: (s.size or 0, s.lfs.sha256 if s.lfs else None) for s in info.siblings or []}
    before = {name: (dest / name).stat().st_size for name in expected if (dest / name).is_file()}
    # Resumes partial downloads and skips complete files by itself.
    snapshot_download(repo_id, revision=info.sha, local_dir=dest)
    fetched = [n for n in expected if before.get(n) != (dest / n).stat().st_size]
    for name, (size, digest) in expected.items():
        target, origin = dest / name, f"{size}:{digest}"
        if ledger.verified(name, target, origin):
            continue
        if not intact(target, size, digest if verify == "sha256" else None):
            target.unlink()
            raise SystemExit(f"{name}: differs from the hub's size or sha256; removed it, run again")
        ledger.record(name, target, origin)
    return (
        len(expected),
        sum(s for s, _ in expected.values()),
        len(fetched),
        sum(expected[n][0] - before.get(n, 0) for n in fetched),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", required=True)
    parser.add_argument("--dest", required=True, type=Path)
    parser.add_argument("--verify", choices=["sha256", "size"], default="sha256")
    args = parser.parse_args()
    args.dest.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(args.dest)
    if args.source.startswith("/"):
        counts = from_path(Path(args.source), args.dest, args.verify, ledger)
    else:
        counts = from_hub(args.source, args.dest, args.verify, ledger)
    files, total, fetched_files, fetched_bytes = counts
    json.dump({"files": files, "bytes": total, "fetched_files": fetched_files, "fetched_bytes": fetched_bytes},
              sys.stdout)  # fmt: skip
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
