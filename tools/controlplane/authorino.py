"""Authorino, the engine that enforces tenants' API keys, next to the local control plane.

Runs the Authorino build that kuadrant-operator 1.4.3 deploys (v0.24.0, pinned
in ``authorino/go.mod``; built and cached like the control-plane binaries) out
of cluster against the control plane of the same ``--state-dir``, with the
flags authorino-operator v0.23.1 gives Kuadrant's Authorino
(``pkg/reconcilers/deployment.go`` ``buildAuthorinoArgs``): cluster-wide (no
``--watch-namespace``), ``--allow-superseding-host-subsets``, the default
Secret and AuthConfig label selectors, TLS off.

Usage:
    authorino.py up [--grpc-port N] [--http-port N]   start it, wait for /readyz
    authorino.py down                                 stop it (by process id), leave no process
    authorino.py status                               say where it listens (exit 1 if stopped)

Ports default to free ones picked here. The ext_authz listeners (gRPC, raw
HTTP) and the OIDC discovery listener bind all interfaces -- Authorino has no
bind-address flag for them; metrics and health listen on 127.0.0.1 only.
The AuthConfig CRD must be installed (``controlplane.py install-crds``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import controlplane as cp  # noqa: E402  pylint: disable=wrong-import-position

NAME = "authorino"
STATE_FILE = "authorino.json"
AUTHCONFIG_CRD = "authconfigs.authorino.kuadrant.io"


def state_file(state: cp.State) -> Path:
    return state.root / STATE_FILE


def load(state: cp.State) -> dict:
    try:
        return json.loads(state_file(state).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _port(requested: int, what: str) -> int:
    if not 0 <= requested <= 65535:
        raise cp.ControlPlaneError(f"--{what} {requested} is not a TCP port (0-65535)")
    if requested == 0:
        return cp.free_port()
    if not cp.port_free(requested, host=""):  # the ext_authz listeners bind every interface
        raise cp.ControlPlaneError(
            f"port {requested} (--{what}) is already in use; stop what listens there or pass "
            f"--{what} 0 to pick a free port")
    return requested


def readyz(health_port: int) -> tuple[bool, str]:
    """Authorino's readiness: 200 once every AuthConfig it watches is reconciled."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/readyz", timeout=2) as resp:
            return resp.status == 200, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}: {exc.read().decode(errors='replace')[:300]}"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
        return False, str(exc)


def up(state: cp.State, grpc_port: int = 0, http_port: int = 0, timeout: float = 60.0,
       log_level: str = "info") -> dict:
    """Start Authorino (building it first if needed); returns its ports and pid."""
    current = load(state)
    if current and cp.alive(current.get("pid"), NAME):
        if readyz(current["health_port"])[0]:
            cp.log(f"authorino already running (gRPC 127.0.0.1:{current['grpc_port']})")
            return current
        down(state)
    cp.build(["authorino"])
    info = state.load()
    if not cp.alive(info.get("apiserver_pid"), "kube-apiserver"):
        raise cp.ControlPlaneError(
            f"the control plane of {state.root} is not running; run `controlplane.py up` first")
    if cp.kubectl(state, "get", "crd", AUTHCONFIG_CRD, check=False).returncode != 0:
        raise cp.ControlPlaneError(
            f"the AuthConfig CRD ({AUTHCONFIG_CRD}) is not installed; run "
            "`controlplane.py install-crds ../shared` (crds/authorino of the mirror) first")
    # Ports picked here can be taken by another process before Authorino binds them: retry then.
    attempts = 3 if grpc_port == 0 and http_port == 0 else 1
    for attempt in range(attempts):
        try:
            return _start(state, grpc_port, http_port, timeout, log_level)
        except cp.ControlPlaneError as exc:
            if "address already in use" not in str(exc) or attempt == attempts - 1:
                raise
            cp.log("a picked port was taken meanwhile; retrying Authorino with new ports")
    raise AssertionError("unreachable")  # pragma: no cover


def _start(state: cp.State, grpc_port: int, http_port: int, timeout: float, log_level: str) -> dict:
    ports = {"grpc_port": _port(grpc_port, "grpc-port"), "http_port": _port(http_port, "http-port")}
    for name in ("oidc_port", "metrics_port", "health_port"):
        ports[name] = cp.free_port()
    argv = [
        str(cp.binary(NAME)), "server",
        # authorino-operator v0.23.1 buildAuthorinoArgs for Kuadrant's Authorino CR
        # (clusterWide: true, supersedingHostSubsets: true, TLS off, default selectors):
        "--allow-superseding-host-subsets",
        f"--ext-auth-grpc-port={ports['grpc_port']}",
        f"--ext-auth-http-port={ports['http_port']}",
        f"--oidc-http-port={ports['oidc_port']}",
        f"--metrics-addr=127.0.0.1:{ports['metrics_port']}",
        f"--health-probe-addr=127.0.0.1:{ports['health_port']}",
        f"--log-level={log_level}", "--log-mode=production",
    ]
    # controller-runtime's --kubeconfig Go flag is not wired into cobra: KUBECONFIG is.
    env = dict(os.environ, KUBECONFIG=str(state.kubeconfig))
    log_path = state.logs / f"{NAME}.log"
    pid = cp.spawn(state, NAME, argv, env=env)
    started = time.monotonic()
    current = dict(ports, pid=pid, log=str(log_path), started_at=time.time())
    state_file(state).write_text(json.dumps(current, indent=2))
    deadline = started + timeout
    last = ""
    while time.monotonic() < deadline:
        if not cp.alive(pid, NAME):
            detail = cp.tail(log_path)
            down(state)
            raise cp.ControlPlaneError(f"authorino exited during start-up; last log lines:\n{detail}")
        ok, last = readyz(ports["health_port"])
        if ok:
            current["ready_seconds"] = round(time.monotonic() - started, 3)
            state_file(state).write_text(json.dumps(current, indent=2))
            cp.log(f"authorino ready in {current['ready_seconds']}s: gRPC ext_authz on port "
                   f"{ports['grpc_port']}, raw HTTP on {ports['http_port']} (log {log_path})")
            return current
        time.sleep(0.2)
    detail = cp.tail(log_path)
    down(state)
    raise cp.ControlPlaneError(f"authorino not ready after {timeout:.0f}s ({last}); last log lines:\n{detail}")


def down(state: cp.State) -> None:
    """Stop Authorino by its process id; nothing is left running."""
    current = load(state)
    if current.get("pid"):
        cp.stop_pid(current["pid"], NAME)
    if current:
        current["pid"] = None
        state_file(state).write_text(json.dumps(current, indent=2))


def status(state: cp.State) -> bool:
    current = load(state)
    if not cp.alive(current.get("pid"), NAME):
        print(f"authorino stopped (state {state.root})")
        return False
    ok, detail = readyz(current["health_port"])
    print(f"authorino {'ready' if ok else 'not ready: ' + detail}: pid {current['pid']}, gRPC port "
          f"{current['grpc_port']}, HTTP port {current['http_port']}, log {current['log']}")
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--state-dir", type=Path,
                        default=Path(os.environ.get("TOKENLABS_CONTROLPLANE_DIR", cp.DEFAULT_STATE)))
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up")
    p_up.add_argument("--grpc-port", type=int, default=0, help="gRPC ext_authz port (0 = pick a free one)")
    p_up.add_argument("--http-port", type=int, default=0, help="raw HTTP ext_authz port (0 = pick a free one)")
    p_up.add_argument("--timeout", type=float, default=60.0)
    p_up.add_argument("--log-level", default="info", choices=("debug", "info", "error"))
    sub.add_parser("down")
    sub.add_parser("status")
    args = parser.parse_args(argv)
    state = cp.State(args.state_dir.resolve())
    try:
        if args.command == "up":
            info = up(state, args.grpc_port, args.http_port, args.timeout, args.log_level)
            print(json.dumps({k: info[k] for k in ("pid", "grpc_port", "http_port", "health_port")}))
        elif args.command == "down":
            down(state)
        elif args.command == "status":
            return 0 if status(state) else 1
    except cp.ControlPlaneError as exc:
        cp.log(f"error: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
