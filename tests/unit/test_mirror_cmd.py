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
    real = tmp_path / "real.deb"
    real.write_bytes(b"!<arch>\n")
    (tmp_path / "link.deb").symlink_to(real)  # followed, the package served would be whatever the link names then
    debs = [tmp_path / "gone.deb", notes, tmp_path / "link.deb"]
    result = cli("mirror", "build", str(out), *(a for d in debs for a in ("--deb", str(d))))
    assert result.returncode == 2
    assert f"not a .deb file (a link is not followed): {', '.join(map(str, debs))}" in result.stderr
    assert not out.exists()


def test_a_root_that_is_no_system_tree_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "mirror"
    result = cli("mirror", "build", str(out), "--root", str(tmp_path))
    assert result.returncode == 2
    assert "is not a Debian/Ubuntu system tree (no var/lib/dpkg/status)" in result.stderr
    assert not out.exists()


def test_vendor_repositories_are_signed_and_a_rebuild_keeps_no_stale_package(tmp_path: Path) -> None:
    """The repositories verify against the mirror's key (and only it); a rebuild with fewer packages lists only those;
    a build that fails leaves the previous mirror as it was."""
    import hashlib
    import subprocess

    import pytest

    from lc_cluster.provision import mirror, standins

    debs = standins.build(tmp_path / "debs")
    signing, out = tmp_path / "signing", tmp_path / "mirror" / "nvidia"
    out.parent.mkdir()
    assert mirror._replace(out, lambda d: mirror.build_vendor(debs, d, signing)) == len(debs)
    key = (out / "repo.asc").read_text()
    keyring = tmp_path / "keyring.gpg"
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--no-default-keyring"]
    subprocess.run([*gpg, "--keyring", str(keyring), "--import"], input=key, text=True, check=True,
                   capture_output=True)  # fmt: skip
    for repo in ("cuda", "container"):
        verify = ["gpgv", "--keyring", str(keyring)]
        subprocess.run([*verify, str(out / repo / "InRelease")], check=True, capture_output=True)
        subprocess.run([*verify, str(out / repo / "Release.gpg"), str(out / repo / "Release")], check=True,
                       capture_output=True)  # fmt: skip
        packages = (out / repo / "Packages").read_bytes()
        assert hashlib.sha256(packages).hexdigest() in (out / repo / "Release").read_text()
    stranger = tmp_path / "stranger.gpg"
    subprocess.run([*gpg, "--keyring", str(stranger), "--import", "/usr/share/keyrings/debian-archive-keyring.gpg"],
                   check=False, capture_output=True)  # fmt: skip
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)
    unsigned = subprocess.run(["gpgv", "--keyring", str(stranger), str(out / "cuda" / "InRelease")],
                              capture_output=True, check=False)  # fmt: skip
    assert unsigned.returncode != 0, "another key must not verify the mirror"

    kept = [d for d in debs if mirror.vendor_repo(d.name) == "cuda"][:1]
    mirror._replace(out, lambda d: mirror.build_vendor(kept, d, signing))
    assert sorted(p.name for p in out.glob("*/*.deb")) == [kept[0].name]
    assert "Package: " + kept[0].name.split("_")[0] in (out / "cuda" / "Packages").read_text()
    assert (out / "repo.asc").read_text() == key, "a rebuild keeps the key hosts already trust"

    def broken(_: Path) -> int:
        raise RuntimeError("download failed")

    with pytest.raises(RuntimeError):
        mirror._replace(out, broken)
    assert sorted(p.name for p in out.glob("*/*.deb")) == [kept[0].name]
    assert sorted(p.name for p in out.parent.iterdir()) == ["nvidia"], "no staging folder left behind"
    agents = subprocess.run(["pgrep", "-f", f"gpg-agent --homedir {signing}"], capture_output=True, check=False)
    assert agents.returncode == 1, "a gpg agent outlived the build"
