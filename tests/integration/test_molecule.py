"""Each role's Molecule scenario: converge, idempotence and verify in a systemd container (podman) from the
project's Debian image, with packages from the project's mirror (scripts/molecule.sh prepares both)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p.parents[2].name for p in REPO.glob("roles/*/molecule/default/molecule.yml"))


def test_every_role_has_a_scenario() -> None:
    assert sorted(p.name for p in (REPO / "roles").iterdir() if p.is_dir()) == ROLES


@pytest.mark.parametrize("role", ROLES)
def test_molecule(role: str) -> None:
    done = subprocess.run(["bash", str(REPO / "scripts" / "molecule.sh"), role], capture_output=True, text=True,
                          timeout=1200, check=False)  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
