"""scripts/prerequisites.py asks the package manager, not the file system, and names what is missing.

A fake ``dpkg-query`` on PATH plays the package database: the machine image's ``libclang-cpp14``
(whose ``libclang-cpp.so.14`` fooled the old glob) must not count as ``libclang-dev``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "prerequisites.py"

FAKE_DPKG_QUERY = """#!/bin/sh
# fake dpkg-query: installed packages are the lines of $FAKE_DPKG_INSTALLED ("name file...")
mode=$1; shift
format=""
[ "$mode" = -W ] && { format=$1; shift; }
pkg=$1
line=$(awk -v p="$pkg" '$1 == p' "$FAKE_DPKG_INSTALLED" 2>/dev/null)
[ -n "$line" ] || { echo "dpkg-query: no packages found matching $pkg" >&2; exit 1; }
if [ "$format" = '-f=${Depends}' ]; then echo "$line" | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^depends=/) print substr($i, 9)}'
elif [ "$mode" = -W ]; then printf 'install ok installed'; else echo "$line" | tr ' ' '\\n' | tail -n +2; fi
"""


@pytest.fixture
def machine(tmp_path):
    """A PATH with a fake dpkg-query, cargo and the real python/go/openssl/git; returns (env, installed file)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dpkg-query").write_text(FAKE_DPKG_QUERY)
    (bin_dir / "dpkg-query").chmod(0o755)
    (bin_dir / "cargo").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "cargo").chmod(0o755)
    for tool in ("git", "go", "openssl"):
        real = shutil.which(tool)
        if real:
            (bin_dir / tool).symlink_to(real)
    installed = tmp_path / "installed"
    env = dict(os.environ, PATH=f"{bin_dir}:/bin", FAKE_DPKG_INSTALLED=str(installed))
    return env, installed


def run(env, *args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, check=False)


def test_libclang_cpp_does_not_count_as_libclang_dev(machine, tmp_path):
    env, installed = machine
    cpp = tmp_path / "libclang-cpp.so.14"
    cpp.write_text("")
    installed.write_text(f"libclang-cpp14 {cpp}\nredis-server /usr/bin/redis-server\ng++ /usr/bin/g++\n")
    proc = run(env, "conformance")
    assert proc.returncode == 2
    assert "Debian package 'libclang-dev' is not installed" in proc.stderr
    assert "apt-get install libclang-dev" in proc.stderr
    assert "redis-server" not in proc.stderr


def test_an_installed_libclang_dev_without_libclang_so_is_named(machine, tmp_path):
    env, installed = machine
    installed.write_text(f"libclang-dev {tmp_path}/gone/libclang.so\nredis-server\ng++\n")
    proc = run(env, "conformance")
    assert proc.returncode == 2
    assert "'libclang-dev' is installed but provides no file" in proc.stderr


def test_libclang_so_from_the_versioned_package_libclang_dev_depends_on(machine, tmp_path):
    env, installed = machine
    (tmp_path / "libclang.so").write_text("")
    installed.write_text(f"libclang-dev depends=libclang-14-dev\nlibclang-14-dev {tmp_path}/libclang.so\n"
                         "redis-server\ng++\n")
    proc = run(env, "conformance")
    assert "libclang-dev" not in proc.stderr


def test_everything_present_passes(machine, tmp_path):
    env, installed = machine
    (tmp_path / "libclang-14.so").write_text("")
    installed.write_text(f"libclang-dev {tmp_path}/libclang-14.so\nredis-server\ng++\n")
    proc = run(env, "conformance")
    if shutil.which("go") is None or shutil.which("openssl") is None:
        pytest.skip("go or openssl is not installed here")
    assert proc.returncode == 0, proc.stderr


def test_stages_without_a_control_plane_need_no_go_and_no_packages(machine):
    env = machine[0]
    proc = run(dict(env, PATH=str(Path(env["PATH"].split(":")[0]))), "unit", "lint", "sanity", "build")
    assert "go is missing" not in proc.stderr and "Debian package" not in proc.stderr


def test_unknown_stage_is_refused_with_the_allowed_ones(machine):
    env = machine[0]
    proc = run(env, "nope")
    assert proc.returncode == 2
    assert "unknown stage(s) nope (allowed: unit lint sanity build integration conformance demo)" in proc.stderr
