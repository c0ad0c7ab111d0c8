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


def test_the_reconcile_loop_writes_each_pass_logs_problems_once_and_stops_its_children(tmp_path):
    from types import SimpleNamespace

    from testworld.supervision import reconcile_until_stopped
    results = [{"pods": {"ns/a": {"ok": True}, "ns/b": {"ok": False}}, "problems": ["ns/c: off loopback"]},
               {"pods": {"ns/a": {"ok": True}}, "problems": ["ns/c: off loopback"]},
               RuntimeError("API server gone")]
    statuses, logged = [], []

    class Fake:
        args = SimpleNamespace(status_file=tmp_path / "status.json")
        stopping = False
        stopped = False

        def reconcile(self):
            result = results.pop(0)
            if not results:
                self.stopping = True
            if isinstance(result, Exception):
                raise result
            return result

        def stop_all(self):
            self.stopped = True

    fake = Fake()

    def log(msg):  # records the status the previous pass wrote, as of this message
        logged.append(msg)
        statuses.append(json.loads((tmp_path / "status.json").read_text()) if (tmp_path / "status.json").exists()
                        else None)
    reconcile_until_stopped(fake, "pods", "ok", "waiting", "pod(s)", 0, log)
    final = json.loads((tmp_path / "status.json").read_text())
    assert logged == ["ns/c: off loopback", "pass failed: API server gone"]
    assert statuses[1]["phase"] == "ready" and statuses[1]["detail"] == "1 pod(s)"
    assert final["phase"] == "failed" and final["detail"] == "API server gone" and fake.stopped


def test_the_reconcilers_command_line_has_what_up_reconciler_passes():
    parser, p_run = supervision.reconciler_parser("doc", "help", "where configs go")
    p_run.add_argument("--apiserver-port", type=int, required=True)
    args = parser.parse_args(["run", "--kubeconfig=/k", "--status-file=/s", "--work-dir=/w", "--apiserver-port=6443"])
    assert (str(args.kubeconfig), str(args.status_file), str(args.work_dir), args.apiserver_port) == \
        ("/k", "/s", "/w", 6443)
    plain, _p_run = supervision.reconciler_parser("doc", "help")
    assert not hasattr(plain.parse_args(["run", "--kubeconfig=/k", "--status-file=/s"]), "work_dir")
