"""What every component of the test world shares: where things live, errors, logs, processes.

A component is a module of this package with a process to build, start, check and stop; its state
(pids, ports) lives in one state directory (``State``), its log in ``<state>/logs/<name>.log``;
processes are stopped by pid, never by name.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
DEFAULT_STATE = REPO / ".cache" / "controlplane"
CACHE = Path(os.environ.get("TOKENLABS_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
             / "tokenlabs")


class TestWorldError(Exception):
    """A failure with a message meant for the operator."""

    __test__ = False  # not a pytest test class


def log(msg: str, who: str = "testworld") -> None:
    print(f"{who}: {msg}", file=sys.stderr, flush=True)


def flag_value(argv: list[str], name: str) -> str | None:
    """The value of ``--name V`` or ``--name=V`` in a command line (the last one wins, as flag parsers read it)."""
    value = None
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def state_dir_from_env() -> Path:
    return Path(os.environ.get("TOKENLABS_CONTROLPLANE_DIR", DEFAULT_STATE))


class State:
    def __init__(self, root: Path):
        self.root = root
        self.pki = root / "pki"
        self.data = root / "etcd-data"
        self.logs = root / "logs"
        self.file = root / "state.json"

    def load(self) -> dict:
        try:
            return json.loads(self.file.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def save(self, content: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.file.write_text(json.dumps(content, indent=2))

    @property
    def kubeconfig(self) -> Path:
        return self.root / "admin.kubeconfig"

    def component_file(self, name: str) -> Path:
        """Where a component other than the control plane keeps its pids and ports."""
        return self.root / f"{name}.json"

    def load_component(self, name: str) -> dict:
        try:
            return json.loads(self.component_file(name).read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def save_component(self, name: str, content: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.component_file(name).write_text(json.dumps(content, indent=2))


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``port`` can be bound on ``host`` ("" = every interface)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alive(pid: int | None, name: str) -> bool:
    """True if ``pid`` runs the binary ``name`` (and is not a zombie)."""
    if not pid:
        return False
    for attempt in range(20):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        if state in ("Z", "X"):
            return False
        if cmdline:
            return os.path.basename(cmdline.split(b"\0")[0].decode()) == name
        # Just forked: the new image's argv is not visible yet.
        time.sleep(0.01 * (attempt + 1))
    return True


def spawn(state: State, name: str, argv: list[str], env: dict | None = None) -> int:
    """Start ``argv`` in its own session, logging to ``logs/<name>.log``; returns the pid."""
    state.logs.mkdir(parents=True, exist_ok=True)
    with open(state.logs / f"{name}.log", "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True, close_fds=True)
    return proc.pid


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def stop_pid(pid: int, name: str, timeout: float = 15.0) -> None:
    if not alive(pid, name):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid, name):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not alive(pid, name):
            return
        time.sleep(0.1)
    raise TestWorldError(f"{name} (pid {pid}) did not stop")


def http_ok(url: str, timeout: float = 2.0) -> tuple[bool, str]:
    """GET ``url`` (TLS without verification: loopback health endpoints with self-signed serving certs)."""
    import ssl  # pylint: disable=import-outside-toplevel
    import urllib.request  # pylint: disable=import-outside-toplevel
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=ctx) as resp:
            return resp.status == 200, resp.read().decode(errors="replace")[:300]
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
        return False, str(exc)


def start_process(state: State, name: str, argv: list[str], ready, timeout: float = 60.0, env: dict | None = None,
                  binary_name: str | None = None, info: dict | None = None) -> dict:
    """Start one component process, wait until ``ready()`` says ``(True, _)``; record its pid and ``info``.

    Already running and ready: nothing is started. A process that exits or is not ready in time is stopped
    and its last log lines are raised.
    """
    current = state.load_component(name)
    binary_name = binary_name or os.path.basename(argv[0])
    if current and alive(current.get("pid"), binary_name) and ready()[0]:
        return current
    stop_process(state, name)
    log_path = state.logs / f"{name}.log"
    pid = spawn(state, name, argv, env=env)
    current = dict(info or {}, pid=pid, binary=binary_name, log=str(log_path), started_at=time.time())
    state.save_component(name, current)
    deadline = time.monotonic() + timeout
    detail = ""
    while time.monotonic() < deadline:
        if not alive(pid, binary_name):
            stop_process(state, name)
            raise TestWorldError(f"{name} exited during start-up; last log lines:\n{tail(log_path)}")
        ok, detail = ready()
        if ok:
            log(f"{name} ready (pid {pid}, log {log_path})", name)
            return current
        time.sleep(0.3)
    stop_process(state, name)
    raise TestWorldError(f"{name} not ready after {timeout:.0f}s ({detail}); last log lines:\n{tail(log_path)}")


def stop_process(state: State, name: str) -> None:
    """Stop a component's process by its recorded pid; nothing is left running."""
    current = state.load_component(name)
    if current.get("pid"):
        stop_pid(current["pid"], current.get("binary") or name)
        current["pid"] = None
        state.save_component(name, current)


def process_status(state: State, name: str, ready=None) -> bool:
    current = state.load_component(name)
    if not alive(current.get("pid"), current.get("binary") or name):
        print(f"{name} stopped (state {state.root})")
        return False
    ok, detail = ready() if ready else (True, "")
    print(f"{name} {'ready' if ok else 'not ready: ' + detail}: pid {current['pid']}, log {current.get('log')}")
    return ok


def run_passes(name: str, one_pass, status_file: Path, interval: float) -> None:
    """The loop of a stand-in controller: ``one_pass()`` every ``interval`` s, its result recorded in
    ``status_file`` (what :func:`passes_ready` reads). A failed pass is logged and retried, as a controller would."""
    while True:
        try:
            result = one_pass()
            status_file.write_text(json.dumps({"synced_at": time.time(), "result": result}))
        except Exception as exc:  # noqa: BLE001 - a failed pass is logged and retried
            print(f"{name}: pass failed: {exc}", file=sys.stderr, flush=True)
        time.sleep(interval)


def passes_ready(status_file: Path, started: float):
    """Readiness of a :func:`run_passes` process: a pass has finished since ``started``."""
    def check():
        try:
            synced = json.loads(status_file.read_text())
        except (OSError, ValueError):
            return False, "no pass finished yet"
        return synced.get("synced_at", 0) >= started, f"last pass: {synced}"
    return check


def chart_version_problem(deployment: dict | None, version: str) -> str:
    """Why a controller built at ``version`` must not run for a chart's ``deployment`` ('' when it may).

    A supervisor of the platform's controllers runs its binary only for the chart release of the same version (the
    controller image's tag): never a newer controller over an older release's objects. The reference release set's
    controllers cannot be built here (the module proxy refuses them), so a cluster on that set has none running."""
    if deployment is None:
        return "the chart is not installed"
    containers = ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or [{}]
    image = containers[0].get("image") or ""
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    if tag.lstrip("v") != version.lstrip("v"):
        return "the chart deploys %s, this controller is %s (built from its Go module); it runs only for its own " \
               "release" % (image or "no image", version)
    return ""


def require_tools(tools, why: str) -> None:
    """Each of ``tools`` is on the PATH, or an error says which is missing and ``why`` it is needed."""
    for tool in tools:
        if not shutil.which(tool):
            raise TestWorldError(f"`{tool}` is missing: {why}")
