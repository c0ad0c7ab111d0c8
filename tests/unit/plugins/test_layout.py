"""The unit tests mirror the plugin layout: every module_utils file has tests/unit/plugins/module_utils/test_<name>.py."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
MODULE_UTILS = sorted(p for p in (REPO / "plugins" / "module_utils").glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("source", MODULE_UTILS, ids=lambda p: p.name)
def test_every_module_utils_file_has_its_unit_test_file(source):
    test = REPO / "tests" / "unit" / "plugins" / "module_utils" / ("test_%s.py" % source.stem.lstrip("_"))
    assert test.is_file(), "%s has no unit test file %s" % (source.name, test.relative_to(REPO))


@pytest.mark.parametrize("source", MODULE_UTILS, ids=lambda p: p.name)
def test_module_utils_are_private_and_small(source):
    text = source.read_text()
    assert source.name.startswith("_") and "Private to this collection" in text, source.name
    assert len(text.splitlines()) < 450, "%s has %d lines; split it by responsibility" % (
        source.name, len(text.splitlines()))
