"""What the supervisors of the platform's controllers share: their children's lifetime, their command line, their
status file and how ``up`` and ``status`` read it."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from testworld import supervision


def test_a_child_is_stopped_with_sigterm_and_killed_if_it_lingers():
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-c", "import time; time.sleep(60)"])
    supervision.stop_child(proc)
    assert proc.returncode == -15
    stubborn = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-c", "import signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                               "print('ready', flush=True)\ntime.sleep(60)"], stdout=subprocess.PIPE)
    assert stubborn.stdout.readline() == b"ready\n"
    supervision.stop_child(stubborn, timeout=0.2)
    assert stubborn.returncode == -9
    stubborn.stdout.close()
    supervision.stop_child(stubborn)  # exited already: nothing to do
    supervision.stop_child(None)


def test_the_run_command_line():
    parser, run = supervision.run_parser("First paragraph.\n\nThe rest.", "supervise it")
    run.add_argument("--status-file")
    assert parser.description == "First paragraph."
    assert vars(parser.parse_args(["run", "--status-file=F"])) == {"command": "run", "status_file": "F"}
    with pytest.raises(SystemExit):
        parser.parse_args([])


def test_the_status_file(tmp_path):
    status_file = tmp_path / "x.status.json"
    before = time.time()
    supervision.write_status(status_file, "ready", "all good", webhooks=[], server_pid=None)
    text = status_file.read_text()
    status = json.loads(text)
    assert list(status) == ["phase", "detail", "updated_at", "webhooks", "server_pid"]
    assert status["phase"] == "ready" and status["detail"] == "all good" and status["updated_at"] >= before
    assert "\n" not in text
    supervision.write_status(status_file, "starting", indent=1)
    assert json.loads(status_file.read_text())["detail"] == "" and "\n" in status_file.read_text()


def test_up_reads_a_fresh_status_with_a_ready_phase(tmp_path):
    status_file = tmp_path / "x.status.json"
    started = time.time()
    check = supervision.status_ready(status_file, started, ("ready",))
    assert check() == (False, "the supervisor has written no status yet")
    status_file.write_text(json.dumps({"phase": "starting", "detail": "x", "updated_at": started + 1}))
    assert check() == (False, "phase starting: x")
    status_file.write_text(json.dumps({"phase": "ready", "updated_at": started + 1}))
    assert check() == (True, "phase ready: ")
    status_file.write_text(json.dumps({"phase": "ready", "updated_at": started - 1}))
    assert check()[0] is False  # written before this start
    described = supervision.status_ready(status_file, 0, ("ready",), lambda status: f"<{status['phase']}>")
    assert described() == (True, "phase ready: <ready>")


def test_the_status_of_a_component_without_a_status_file_is_its_process(tmp_path, capsys):
    from testworld.base import State  # pylint: disable=import-outside-toplevel
    state = State(tmp_path)
    assert supervision.supervisor_status(state, "x", lambda status_file, started: None) is False
    assert "x stopped" in capsys.readouterr().out
