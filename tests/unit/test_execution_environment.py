"""The execution environment definitions produce a build context (no container build here)."""

from __future__ import annotations

import json
import re
import subprocess
from importlib import metadata
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BUILDER = REPO / ".venv" / "bin" / "ansible-builder"
EE = yaml.safe_load((REPO / "execution-environment.yml").read_text())


def helm_version_of_control_plane() -> str:
    go_mod = (REPO / "testworld" / "go" / "helm" / "go.mod").read_text()
    return re.search(r"helm\.sh/helm/v3 (v[0-9.]+)", go_mod).group(1)


def test_ansible_builder_create_produces_the_build_context(tmp_path):
    context = tmp_path / "context"
    proc = subprocess.run([str(BUILDER), "create", "-f", str(REPO / "execution-environment.yml"), "-c", str(context),
                           "--output-filename", "Containerfile"], capture_output=True, text=True, cwd=str(REPO),
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = (context / "Containerfile").read_text()
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    python_reqs = (context / "_build" / "requirements.txt").read_text()

    # ansible-core 2.19.x, pinned
    assert re.search(r'ANSIBLE_INSTALL_REFS="ansible-core==2\.19\.\d+ ansible-runner==[\d.]+"', containerfile)
    # the collection and its dependencies, installed by ansible-galaxy from the generated requirements
    assert "ansible-galaxy collection install" in containerfile and "-r requirements.yml" in containerfile
    names = [c["name"] for c in galaxy["collections"]]
    assert "https://github.com/tokenlabs/tokenlabs.inference.git" in names
    assert "kubernetes.core" in names and "community.general" not in names  # unused, not a dependency
    # Python requirements: pinned ones + introspection of the collections' meta/execution-environment.yml
    assert "COPY _build/requirements.txt requirements.txt" in containerfile
    assert "introspect --user-pip=requirements.txt" in containerfile
    assert "kubernetes==" in python_reqs
    # helm, same version as the local control plane, by TARGETARCH, checksum-verified
    version = helm_version_of_control_plane()
    assert f"ARG HELM_VERSION={version}" in containerfile
    assert "ARG TARGETARCH" in containerfile
    assert "helm-${HELM_VERSION}-linux-${arch}.tar.gz" in containerfile
    assert "sha256sum -c" in containerfile and "/usr/local/bin/helm" in containerfile
    assert "git-core" in containerfile  # ansible-galaxy needs git for the collection's git source


def test_pins_match_what_the_collection_is_tested_with():
    galaxy_yml = yaml.safe_load((REPO / "galaxy.yml").read_text())
    collections = {c["name"]: c for c in EE["dependencies"]["galaxy"]["collections"]}
    ours = collections["https://github.com/tokenlabs/tokenlabs.inference.git"]
    assert ours["type"] == "git" and ours["version"] == galaxy_yml["version"]
    core = EE["dependencies"]["ansible_core"]["package_pip"]
    assert core == "ansible-core==" + metadata.version("ansible-core")
    assert core.startswith("ansible-core==2.19.")
    for name in ("kubernetes.core",):
        installed = json.loads((REPO / ".venv" / "lib" / "python3.11" / "site-packages" / "ansible_collections" /
                                name.replace(".", "/") / "MANIFEST.json").read_text())["collection_info"]["version"]
        assert collections[name]["version"] == installed, name
    assert "kubernetes==" + metadata.version("kubernetes") in EE["dependencies"]["python"]


def test_collection_metadata_points_at_existing_files():
    meta = yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text())
    assert meta["version"] == 1
    assert (REPO / meta["dependencies"]["python"]).is_file()
    bindep = REPO / meta["dependencies"]["system"]
    lines = [line for line in bindep.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert lines and all(re.match(r"^[a-z0-9][a-z0-9.+-]* \[platform:[a-z]+( platform:[a-z]+)*\]$", l) for l in lines)
    assert any(line.startswith("openssh-clients") for line in lines)


def test_introspection_reads_the_collection_metadata():
    """ansible-builder finds our Python and system dependencies in the installed collection."""
    proc = subprocess.run([str(BUILDER), "introspect", "--sanitize", str(REPO / ".cache" / "collections")],
                          capture_output=True, text=True, cwd=str(REPO), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert re.search(r"kubernetes>=24\.2\.0,<38\s+# from collection tokenlabs\.inference", out), out
    assert re.search(r"openssh-clients \[platform:rpm\]\s+# from collection tokenlabs\.inference", out), out
