"""The test world has one importable home: no import cycles, no sys.path edits anywhere."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "testworld"


def imports_of(path: Path) -> set[str]:
    """The testworld modules ``path`` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("testworld"):
            if node.module == "testworld":
                found.update("testworld." + alias.name for alias in node.names)
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("testworld."))
    return found


def test_no_import_cycle_in_the_test_world():
    graph = {"testworld." + p.stem: imports_of(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}

    def reach(start, seen):
        for nxt in graph.get(start, ()):
            if nxt not in seen:
                seen.add(nxt)
                reach(nxt, seen)
        return seen

    cycles = [name for name in graph if name in reach(name, set())]
    assert not cycles, cycles


def test_nothing_edits_sys_path():
    proc = subprocess.run(["git", "grep", "-n", "sys.path.insert\\|sys.path.append", "--", "tests", "bench", "tools",
                           "scripts", "testworld"], cwd=REPO, capture_output=True, text=True, check=False)
    hits = [line for line in proc.stdout.splitlines() if not line.startswith("tests/unit/test_testworld.py")]
    assert hits == []


def test_every_component_is_started_and_stopped_by_the_command_line():
    from testworld import __main__ as cli  # noqa: PLC0415 - the CLI module, imported where it is checked

    for name, module in cli.COMPONENTS.items():
        for verb in ("up", "down", "status"):
            assert callable(getattr(module, verb, None)), f"testworld.{name} has no {verb}()"
