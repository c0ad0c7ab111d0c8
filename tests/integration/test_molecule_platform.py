"""The Molecule scenario extensions/molecule/platform (converge -> idempotence ->
verify, driver default/unmanaged) against the session's local control plane."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_molecule_platform_scenario(control_plane):
    molecule = REPO / ".venv" / "bin" / "molecule"
    assert molecule.exists() or shutil.which("molecule"), "molecule is not installed (requirements-test.txt)"
    proc = subprocess.run([str(molecule), "test", "-s", "platform"], cwd=REPO, env=control_plane.env,
                          capture_output=True, text=True, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-8000:]
    assert "idempotence" in out.lower()
