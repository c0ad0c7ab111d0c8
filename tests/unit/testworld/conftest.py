"""Fixtures shared by the tests of the test world's components."""

from __future__ import annotations

import json
import time

import pytest

# Every phase a supervisor writes into its status file.
PHASES = ("waiting-for-config", "waiting-for-chart", "waiting", "starting", "ready", "webhook-failed", "exited",
          "failed")


@pytest.fixture
def ready_phases(tmp_path):
    """``ready_phases(supervisor_ready)``: the phases in which a component's ``supervisor_ready(status_file,
    started)`` lets ``up`` go on. Each is checked in a status written since ``started``; none may count without a
    status or in one written before."""
    def phases(supervisor_ready) -> set:
        status_file = tmp_path / "status.json"
        status_file.unlink(missing_ok=True)
        started = time.time()
        check = supervisor_ready(status_file, started)
        assert check()[0] is False
        ready = set()
        for phase in PHASES:
            status_file.write_text(json.dumps({"phase": phase, "updated_at": started - 1}))
            assert check()[0] is False, f"{phase}: written before this start"
            status_file.write_text(json.dumps({"phase": phase, "updated_at": started + 1}))
            if check()[0]:
                ready.add(phase)
        return ready
    return phases
