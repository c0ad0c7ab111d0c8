"""What every supervisor of a platform controller run out of cluster has in common: the shape of its process,
not what it supervises.

The platform's controllers (:mod:`testworld.envoy_gateway`, :mod:`testworld.ai_gateway`, :mod:`testworld.metallb`,
:mod:`testworld.kuadrant`) each run as child processes of a small supervisor, ``python -m testworld.<component>
run ...``, that ``up`` starts and ``down`` stops by pid. This module holds that shape once:

- the children's lifetime: killed with the supervisor whatever kills it (:func:`die_with_parent`), stopped with
  SIGTERM and, after a grace period, SIGKILL (:func:`stop_child`);
- the supervisor's entry point: its ``run`` command line (:func:`run_parser`) and the loop that ends on SIGTERM or
  SIGINT (:func:`run_until_signalled`);
- its reads of the API server (:class:`Kubernetes`);
- its phase, written to ``<state>/<component>.status.json`` (:func:`write_status`), which ``up`` and ``status``
  read (:func:`status_ready`, :func:`start_supervisor`, :func:`supervisor_status`);
- the whole ``up`` of a supervisor of many children, one per pod, pool or Gateway, each in a private network
  namespace, reconciled every few seconds (:func:`reconcile_until_stopped`, :func:`up_reconciler`): the model
  servers, the endpoint pickers, the AI Gateway's ext_proc.

It is a module of its own, not part of :mod:`testworld.netns`, because it is a separate concern: the Kuadrant
operators are supervised the same way but run in no network namespace, while everything that makes a private
network namespace usable (bridges, webhooks, the controller's process inside one) lives in :mod:`testworld.netns`,
which builds on this module.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from testworld import controlplane
from testworld.base import State, alive, log, process_status, require_tools, start_process, stop_process
from testworld.gobuild import build

PR_SET_PDEATHSIG = 1
# The C library: prctl here, setns in testworld.netns.
LIBC = ctypes.CDLL(None, use_errno=True)
STOP_TIMEOUT = 10.0


# --- the children -----------------------------------------------------------------------------------------------

def die_with_parent() -> None:
    """A ``preexec_fn``: the child is killed with the supervisor, whatever kills it (the signal survives the exec
    of the controller)."""
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def stop_child(proc: subprocess.Popen | None, timeout: float = STOP_TIMEOUT) -> None:
    """Stop ``proc`` if it still runs: SIGTERM, and SIGKILL if it has not exited after ``timeout`` s."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- the supervisor process -------------------------------------------------------------------------------------

def run_parser(doc: str, help_text: str) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """``(parser, run)``: the command line of ``python -m testworld.<component>``, whose only command is ``run``
    (the caller adds its options to ``run``); the description is the first paragraph of the module's ``doc``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    return parser, sub.add_parser("run", help=help_text)


def run_until_signalled(supervisor, stop) -> int:
    """``supervisor.loop()`` until SIGTERM or SIGINT; then ``supervisor.stopping`` is set, ``stop()`` stops the
    children and the process exits with 0."""
    def on_term(_signum, _frame):
        supervisor.stopping = True
        stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    supervisor.loop()
    return 0


def reconcile_until_stopped(supervisor, items: str, ready: str, waiting: str, what: str, interval: float,
                            log) -> None:
    """The loop of a supervisor of many children (one per pod or pool): ``supervisor.reconcile()`` every ``interval``
    s until ``supervisor.stopping``, then ``supervisor.stop_all()``.

    ``reconcile()`` returns ``{items: {key: {..., ready: bool}}, "problems": [...]}``; each new problem is logged once,
    and the status file gets phase ``ready`` when every item is ready (``"starting"`` naming the others, ``waiting``
    saying for what), with the result. A failed pass is logged, recorded as ``failed`` and retried."""
    reported = set()
    while not supervisor.stopping:
        try:
            result = supervisor.reconcile()
            for problem in set(result["problems"]) - reported:
                log(problem)
            reported = set(result["problems"])
            pending = [key for key, item in result[items].items() if not item[ready]]
            phase, detail = ("starting", f"{waiting}: {', '.join(pending)}") if pending else \
                ("ready", f"{len(result[items])} {what}")
            write_status(supervisor.args.status_file, phase, detail, **result)
        except Exception as exc:  # noqa: BLE001 - logged and retried, as a controller would
            log(f"pass failed: {exc}")
            write_status(supervisor.args.status_file, "failed", str(exc))
        time.sleep(interval)
    supervisor.stop_all()


class Kubernetes:
    """The API clients of a supervisor, as the user of its ``kubeconfig`` (so the audit log tells its writes)."""

    def __init__(self, kubeconfig):
        from kubernetes import client, config  # pylint: disable=import-outside-toplevel
        self.api = config.new_client_from_config(config_file=str(kubeconfig))
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.admission = client.AdmissionregistrationV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.ApiException = client.exceptions.ApiException  # pylint: disable=invalid-name

    def read(self, fn, *args) -> dict | None:
        """``fn(*args)``, an object as a dict (``None`` if it does not exist)."""
        try:
            return self.api.sanitize_for_serialization(fn(*args))
        except self.ApiException as exc:
            if exc.status == 404:
                return None
            raise


def write_status(status_file: Path, phase: str, detail: str = "", *, indent: int | None = None, **extra) -> None:
    """The supervisor's phase (and ``extra``) for ``up`` and ``status``, stamped with the time it was written."""
    status_file.write_text(json.dumps({"phase": phase, "detail": detail, "updated_at": time.time(), **extra},
                                      indent=indent))


# --- the component: up and status ---------------------------------------------------------------------------------

def status_ready(status_file: Path, started: float, phases, describe=None):
    """Readiness of a supervisor for ``up``: its status file, written since ``started``, has one of ``phases``.

    The check returns ``(ready, "phase P: detail")``; ``describe(status)`` gives the detail (default: the status's
    ``detail``)."""
    def check():
        try:
            status = json.loads(status_file.read_text())
        except (OSError, ValueError):
            return False, "the supervisor has written no status yet"
        fresh = status.get("updated_at", 0) >= started
        detail = describe(status) if describe else status.get("detail", "")
        return fresh and status.get("phase") in phases, f"phase {status.get('phase')}: {detail}"
    return check


def reconciler_parser(doc: str, help_text: str, work_dir_help: str | None = None):
    """:func:`run_parser` with the options :func:`up_reconciler` passes (``--kubeconfig``, ``--status-file`` and,
    with ``work_dir_help``, ``--work-dir``)."""
    parser, p_run = run_parser(doc, help_text)
    p_run.add_argument("--kubeconfig", type=Path, required=True)
    p_run.add_argument("--status-file", type=Path, required=True)
    if work_dir_help:
        p_run.add_argument("--work-dir", type=Path, required=True, help=work_dir_help)
    return parser, p_run


def reconciler_ready(status_file: Path, started: float):
    """Readiness of a supervisor run by :func:`reconcile_until_stopped`: phase ``ready``."""
    return status_ready(status_file, started, ("ready",))


def up_reconciler(state: State, name: str, module: str, component: str | None, why_netns: str | None, subject: str,
                  interval: float, timeout: float, args: tuple = (), work_dir: bool = False) -> dict:
    """``up`` of a supervisor of many children (``python -m <module> run``): already running and ready, nothing is
    done; otherwise the Go binary ``component`` is built once (None: the children are Python) and the supervisor
    started with its own identity (``subject``), ``--kubeconfig`` and ``--status-file`` (and ``--work-dir
    <state>/<name>``) before ``args``; ``why_netns`` says why ``unshare`` and ``ip`` are needed (None: they are not)."""
    status_file = state.root / f"{name}.status.json"
    current = state.load_component(name)
    if alive(current.get("pid"), current.get("binary") or "") and \
            reconciler_ready(status_file, time.time() - 3 * interval)()[0]:
        log(f"already running (pid {current['pid']})", name)
        return current
    stop_process(state, name)
    status_file.unlink(missing_ok=True)
    if component:
        build([component])
    if why_netns:
        require_tools(("unshare", "ip"), why_netns)
    kubeconfig = controlplane.identity_kubeconfig(state, name, subject)
    argv = [f"--kubeconfig={kubeconfig}", f"--status-file={status_file}"]
    if work_dir:
        (state.root / name).mkdir(parents=True, exist_ok=True)
        argv.append(f"--work-dir={state.root / name}")
    return start_supervisor(state, name, module, argv + list(args), reconciler_ready(status_file, time.time()),
                            timeout, info={"status_file": str(status_file)})


def start_supervisor(state: State, name: str, module: str, args: list[str], ready, timeout: float,
                     info: dict) -> dict:
    """Start ``python -m <module> run <args>`` as the component ``name`` (:func:`testworld.base.start_process`),
    ready when ``ready()`` says so; ``info`` is recorded with its pid."""
    argv = [sys.executable, "-m", module, "run", *args]
    return start_process(state, name, argv, ready, timeout, binary_name=Path(sys.executable).name, info=info)


def supervisor_status(state: State, name: str, supervisor_ready) -> bool:
    """``status`` of a component started by :func:`start_supervisor` (``info`` recorded its ``status_file``)."""
    status_file = state.load_component(name).get("status_file")
    return process_status(state, name, supervisor_ready(Path(status_file), 0) if status_file else None)
