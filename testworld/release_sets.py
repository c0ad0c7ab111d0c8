"""The collection's release sets as the test world reads them (``tokenlabs_release_sets`` in
``roles/platform_defaults/defaults/main.yml``, the one place versions live): which CRD directory of the
artifact mirror belongs to which set.

A set's ``mirror_crds`` names ``<base>/{project}[/{version}]``. The current set's base (``crds-2026.12``)
holds only the projects whose CRDs changed since the reference set (``crds``); for the others the
reference set's directory is the set's too (limitador-operator: identical files, see the mirror's
crds/SOURCES.md).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from testworld.base import REPO, TestWorldError

DEFAULTS = REPO / "roles" / "platform_defaults" / "defaults" / "main.yml"
DEFAULT_SET = "current"


def release_sets() -> dict:
    return yaml.safe_load(DEFAULTS.read_text())["tokenlabs_release_sets"]


def crd_dirs(mirror: Path, release_set: str = DEFAULT_SET) -> list[Path]:
    """Every project's CRD directory of ``release_set`` in ``mirror`` (a directory holding ``crds/``)."""
    sets = release_sets()
    if release_set not in sets:
        raise TestWorldError(f"release set {release_set!r} is not one of {', '.join(sorted(sets))}")
    base = sets[release_set]["mirror_crds"].split("/{project}")[0]
    dirs = []
    for project in sorted(p for p in (mirror / "crds").iterdir() if p.is_dir()):
        versions = sorted(v for v in (mirror / base / project.name).glob("*") if v.is_dir()) \
            if base != "crds" else []
        dirs.append(versions[-1] if versions else project)
    return dirs
