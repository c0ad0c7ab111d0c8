"""What the machine must have for the named test stages (or the demo), checked before anything long runs.

    python3 scripts/prerequisites.py [--install] [STAGE ...]   stages: unit lint sanity build integration conformance demo

Commands are checked on PATH with their version where one matters (Python, Go); Debian packages are
checked by asking the package manager (``dpkg-query``), never by globbing for library files: a glob
such as ``libclang-*.so*`` is also satisfied by ``libclang-cpp``, a different package that bindgen
cannot use. After a package is reported installed, the file the build needs from it is checked too
(``libclang.so`` from ``libclang-dev``), so a broken install fails here, naming the package, and not
as a Rust backtrace forty minutes into the test run.

With ``--install``, missing Debian packages are installed with apt-get when running as root;
otherwise the exact command to run is printed. Exit 0: all present; 2: something is missing.
Standard library only: this runs before the virtualenv exists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("unit", "lint", "sanity", "build", "integration", "conformance", "demo")
# Stages that start the local control plane: its binaries are built from Go modules, its PKI with openssl.
CONTROL_PLANE_STAGES = {"integration", "conformance", "demo"}
# Stages that also run the platform's controllers (python -m testworld up platform).
PLATFORM_STAGES = {"integration", "demo"}
# Debian packages -> (why, a file the build needs from the package or None, the stages that need it).
DEBIAN_PACKAGES = {
    # The quota harness (Rust) counts on Redis in the conformance tests and behind the gateway stand-in of the
    # integration tests (testworld/gateway.py).
    "redis-server": ("Limitador's Redis storage (quota conformance tests, the gateway stand-in)", None,
                     {"conformance", "integration", "demo"}),
    "libclang-dev": ("bindgen (librocksdb-sys, a dependency of the limitador crate) loads libclang.so",
                     re.compile(r"/libclang(-[0-9.]+)?\.so$"), {"conformance", "integration", "demo"}),
    "g++": ("RocksDB's C++ sources in the limitador crate's default features", None,
            {"conformance", "integration", "demo"}),
    "prometheus": ("the Prometheus server and promtool the usage report's tests query", None, {"integration"}),
}


class Missing(Exception):
    pass


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def required_go() -> str:
    """The highest ``go`` directive of the wrapper modules that pin the test world's binaries."""
    best = "1.0"
    for gomod in sorted(ROOT.glob("testworld/go/*/go.mod")):
        match = re.search(r"^go (\d+\.\d+(?:\.\d+)?)\s*$", gomod.read_text(), re.M)
        if match and version_tuple(match.group(1)) > version_tuple(best):
            best = match.group(1)
    return best


def check_command(name: str, why: str, problems: list[str]) -> str | None:
    path = shutil.which(name)
    if not path:
        problems.append(f"{name} is missing: not on PATH ({why})")
    return path


def check_go(problems: list[str]) -> None:
    go = check_command("go", "builds kube-apiserver, etcd, kubectl, helm and Authorino from their modules", problems)
    if not go:
        return
    proc = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False)
    have = proc.stdout.strip().removeprefix("go")
    need = required_go()
    if proc.returncode != 0 or version_tuple(have) < version_tuple(need):
        problems.append(f"Go {have or '(unknown)'} is too old: the wrapper modules under testworld/go/ need Go >= {need}")


def package_installed(package: str) -> bool:
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False)
    return proc.returncode == 0 and proc.stdout.strip() == "install ok installed"


def package_file(package: str, pattern: re.Pattern) -> str | None:
    """A file of ``package`` or of one of its direct dependencies (``libclang-dev`` is a metapackage that
    depends on the versioned ``libclang-NN-dev`` holding ``libclang.so``) matching ``pattern``, if present."""
    depends = subprocess.run(["dpkg-query", "-W", "-f=${Depends}", package], capture_output=True, text=True,
                             check=False).stdout
    candidates = [package] + [part.split()[0] for part in re.split(r"[,|]", depends) if part.strip()]
    for candidate in candidates:
        proc = subprocess.run(["dpkg-query", "-L", candidate], capture_output=True, text=True, check=False)
        for line in proc.stdout.splitlines():
            if pattern.search(line) and os.path.exists(line):
                return line
    return None


def missing_packages(stages=None) -> list[str]:
    return [name for name, (_why, _file, needed_by) in DEBIAN_PACKAGES.items()
            if (stages is None or needed_by.intersection(stages)) and not package_installed(name)]


def check_packages(install: bool, problems: list[str], stages=None) -> None:
    wanted_packages = [name for name, spec in DEBIAN_PACKAGES.items() if stages is None or spec[2].intersection(stages)]
    if not wanted_packages:
        return
    if not shutil.which("dpkg-query"):
        problems.append("dpkg-query is missing: these stages expect a Debian-based machine with the "
                        f"packages {', '.join(wanted_packages)}")
        return
    missing = missing_packages(stages)
    if missing and install and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"prerequisites: installing {' '.join(missing)} (apt-get)", file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=sys.stderr, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=False, stdout=subprocess.DEVNULL, env=env)
        missing = missing_packages(stages)
    for name in missing:
        problems.append(f"Debian package '{name}' is not installed ({DEBIAN_PACKAGES[name][0]}); "
                        f"install it as root: apt-get install {name}")
    for name, (why, wanted, _needed_by) in DEBIAN_PACKAGES.items():
        if name in wanted_packages and wanted is not None and name not in missing and not package_file(name, wanted):
            problems.append(f"Debian package '{name}' is installed but provides no file matching "
                            f"{wanted.pattern} ({why}); reinstall it: apt-get install --reinstall {name}")


def check(stages: list[str], install: bool) -> list[str]:
    problems: list[str] = []
    if sys.version_info < (3, 11):
        problems.append(f"Python {sys.version.split()[0]} is too old: the collection and its tests need >= 3.11")
    check_command("git", "scripts/sanity copies the tracked files", problems)
    if CONTROL_PLANE_STAGES.intersection(stages):
        check_go(problems)
        check_command("openssl", "creates the local control plane's certificates", problems)
    if PLATFORM_STAGES.intersection(stages):
        check_command("unshare", "runs the platform's controllers in private mount and network namespaces", problems)
        if os.geteuid() != 0:
            problems.append("the platform's controllers (python -m testworld up platform) need root: they run in "
                            "private mount and network namespaces (unshare) and bind-mount /certs; run as root")
    if {"conformance", "integration", "demo"}.intersection(stages):
        check_command("cargo", "builds testworld/rust/quota_harness, wasm-shim's CEL crate over Limitador's library "
                      "(the quota conformance tests, the gateway stand-in)", problems)
    check_packages(install, problems, stages)
    return problems


def main(argv: list[str]) -> int:
    install = "--install" in argv
    stages = [arg for arg in argv if arg != "--install"] or list(STAGES)
    unknown = [stage for stage in stages if stage not in STAGES]
    if unknown:
        print(f"prerequisites: unknown stage(s) {', '.join(unknown)} (allowed: {' '.join(STAGES)})", file=sys.stderr)
        return 2
    problems = check(stages, install)
    for problem in problems:
        print(f"prerequisites: {problem}", file=sys.stderr)
    return 2 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
