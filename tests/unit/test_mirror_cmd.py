"""`lc-cluster mirror build` refuses bad input before writing anything."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import cli


def test_a_file_is_not_a_mirror_directory(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = cli("mirror", "build", str(target))
    assert result.returncode == 2
    assert "is a file: give a directory for the mirror" in result.stderr


def test_missing_or_foreign_debs_are_named_and_nothing_is_written(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    out = tmp_path / "mirror"
    result = cli("mirror", "build", str(out), "--deb", str(tmp_path / "gone.deb"), "--deb", str(notes))
    assert result.returncode == 2
    assert f"not a .deb file: {tmp_path / 'gone.deb'}, {notes}" in result.stderr
    assert not out.exists()


def test_a_root_that_is_no_system_tree_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "mirror"
    result = cli("mirror", "build", str(out), "--root", str(tmp_path))
    assert result.returncode == 2
    assert "is not a Debian/Ubuntu system tree (no var/lib/dpkg/status)" in result.stderr
    assert not out.exists()
