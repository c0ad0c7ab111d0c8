"""The plugin layout and its unit tests mirror each other.

module_utils holds private domain subpackages (``_k8s``, ``_tenants``, ``_tiers``, ``_jobs``,
``_catalog``) and a few cross-domain flat files; every file has its unit test at the mirrored path
(``plugins/module_utils/_k8s/api.py`` -> ``tests/unit/plugins/module_utils/_k8s/test_api.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
MODULE_UTILS = REPO / "plugins" / "module_utils"
UNIT = REPO / "tests" / "unit" / "plugins" / "module_utils"
# Flat files: shared by several domains, no domain's piece.
FLAT = {"_validation.py", "_files.py"}
SOURCES = sorted(p for p in MODULE_UTILS.rglob("*.py") if p.name != "__init__.py")


def mirrored_test(source: Path) -> Path:
    relative = source.relative_to(MODULE_UTILS)
    return UNIT / relative.parent / ("test_%s.py" % relative.stem.lstrip("_"))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(MODULE_UTILS)))
def test_every_module_utils_file_has_its_unit_test_at_the_mirrored_path(source):
    test = mirrored_test(source)
    assert test.is_file(), "%s has no unit test file %s" % (source.relative_to(REPO), test.relative_to(REPO))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(MODULE_UTILS)))
def test_module_utils_are_private_and_small(source):
    text = source.read_text()
    relative = source.relative_to(MODULE_UTILS)
    assert relative.parts[0].startswith("_") and "Private to this collection" in text, relative
    assert len(text.splitlines()) < 450, "%s has %d lines; split it by responsibility" % (
        relative, len(text.splitlines()))


def test_flat_files_are_only_the_cross_domain_ones():
    flat = {p.name for p in MODULE_UTILS.glob("*.py") if p.name != "__init__.py"}
    assert flat <= FLAT, "domain pieces belong in a subpackage: %s" % sorted(flat - FLAT)


@pytest.mark.parametrize("package", sorted(p for p in MODULE_UTILS.iterdir() if p.is_dir() and p.name != "__pycache__"),
                         ids=lambda p: p.name)
def test_domain_packages_are_private_and_their_files_do_not_repeat_the_prefix(package):
    assert package.name.startswith("_") and (package / "__init__.py").is_file(), package.name
    prefix = package.name.lstrip("_").rstrip("s")  # _tenants -> tenant, _jobs -> job, _k8s -> k8
    for source in (p for p in package.glob("*.py") if p.name != "__init__.py"):
        assert not source.stem.startswith(("_", prefix)), "%s/%s: name it for what it holds" % (
            package.name, source.name)


def test_test_file_names_are_unique_so_pytest_can_import_them_side_by_side():
    names = [p.name for p in UNIT.rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_no_test_file_is_left_without_its_source():
    sources = {mirrored_test(s) for s in SOURCES}
    orphans = [p for p in UNIT.rglob("test_*.py") if p not in sources]
    assert not orphans, [str(p.relative_to(REPO)) for p in orphans]
