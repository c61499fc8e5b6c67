"""The model_cache role's fetcher on path sources: copies, resumes, notices damage and changes, and says why it
cannot go on. It runs here as it runs on a host: a script, its JSON line on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

FETCHER = (
    Path(__file__).resolve().parents[2]
    / "lc_cluster"
    / "ansible"
    / "roles"
    / "model_cache"
    / "files"
    / "fetch_model.py"
)


def fetch(source: Path, dest: Path, verify: str = "sha256") -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(FETCHER), f"--source={source}", f"--dest={dest}", f"--verify={verify}"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def make_model(root: Path) -> Path:
    source = root / "source"
    (source / "sub").mkdir(parents=True)
    (source / "config.json").write_text('{"layers": 2}')
    (source / "model-00001.safetensors").write_bytes(os.urandom(3 << 20))
    (source / "sub" / "tokenizer.json").write_bytes(os.urandom(4096))
    return source


def same_tree(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    return all((b / f).read_bytes() == (a / f).read_bytes() for f in files)


def test_copies_once_then_does_nothing(tmp_path: Path) -> None:
    source, dest = make_model(tmp_path), tmp_path / "models" / "m"
    first = fetch(source, dest)
    assert first["files"] == 3 and first["fetched_files"] == 3
    assert first["bytes"] == first["fetched_bytes"] == sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
    assert same_tree(source, dest)
    second = fetch(source, dest)
    assert (second["fetched_files"], second["fetched_bytes"]) == (0, 0)


def test_an_interrupted_copy_resumes_where_it_stopped(tmp_path: Path) -> None:
    source, dest = make_model(tmp_path), tmp_path / "m"
    weights = (source / "model-00001.safetensors").read_bytes()
    dest.mkdir()
    (dest / "model-00001.safetensors.part").write_bytes(weights[: 1 << 20])
    result = fetch(source, dest)
    assert result["fetched_bytes"] == result["bytes"] - (1 << 20)
    assert same_tree(source, dest) and not list(dest.glob("*.part"))


def test_a_damaged_file_is_found_and_copied_again(tmp_path: Path) -> None:
    source, dest = make_model(tmp_path), tmp_path / "m"
    fetch(source, dest)
    target = dest / "model-00001.safetensors"
    data = bytearray(target.read_bytes())
    data[1000] ^= 0xFF
    target.write_bytes(bytes(data))  # same size, new mtime
    result = fetch(source, dest)
    assert result["fetched_files"] == 1
    assert same_tree(source, dest)


def test_sizes_only_trust_a_same_sized_file_and_a_changed_source_is_fetched_again(tmp_path: Path) -> None:
    source, dest = make_model(tmp_path), tmp_path / "m"
    fetch(source, dest, verify="size")
    (source / "config.json").write_text('{"layers": 3}')  # same size, newer
    result = fetch(source, dest, verify="size")
    assert result["fetched_files"] == 1
    assert (dest / "config.json").read_text() == '{"layers": 3}'


def test_a_missing_source_says_what_to_check(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(FETCHER), "--source=/nonexistent/models/x", f"--dest={tmp_path}"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 1
    assert "is not a directory on this host (is the share mounted?)" in done.stderr
