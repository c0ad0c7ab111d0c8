"""Authorino, the engine that enforces tenants' API keys, next to the local control plane.

Runs Authorino v0.26.1 (pinned in ``testworld/go/authorino/go.mod``; kuadrant-operator 1.5.2 deploys v0.26.2,
which the module proxy refuses; built and cached like the control-plane binaries) out
of cluster against the control plane of the same ``--state-dir``, with the
flags authorino-operator gives Kuadrant's Authorino (read in v0.23.1)
(``pkg/reconcilers/deployment.go`` ``buildAuthorinoArgs``): cluster-wide (no
``--watch-namespace``), ``--allow-superseding-host-subsets``, the default
Secret and AuthConfig label selectors, TLS off.

Started with ``python -m testworld up authorino`` (``--grpc-port``, ``--http-port``), stopped with
``python -m testworld down`` (by process id, before the control plane), shown by ``status``.

Ports default to free ones picked here. The ext_authz listeners (gRPC, raw
HTTP) and the OIDC discovery listener bind all interfaces -- Authorino has no
bind-address flag for them; metrics and health listen on 127.0.0.1 only.
The AuthConfig CRD must be installed (``python -m testworld install-crds``).
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request

from testworld import controlplane
from testworld.base import State, TestWorldError, alive, free_port, log, port_free, spawn, stop_pid, tail
from testworld.gobuild import binary, build

NAME = "authorino"
AUTHCONFIG_CRD = "authconfigs.authorino.kuadrant.io"


def load(state: State) -> dict:
    return state.load_component(NAME)


def _port(requested: int, what: str) -> int:
    if not 0 <= requested <= 65535:
        raise TestWorldError(f"--{what} {requested} is not a TCP port (0-65535)")
    if requested == 0:
        return free_port()
    if not port_free(requested, host=""):  # the ext_authz listeners bind every interface
        raise TestWorldError(
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


def up(state: State, grpc_port: int = 0, http_port: int = 0, timeout: float = 60.0,
       log_level: str = "info") -> dict:
    """Start Authorino (building it first if needed); returns its ports and pid."""
    current = load(state)
    if current and alive(current.get("pid"), NAME):
        if readyz(current["health_port"])[0]:
            log(f"authorino already running (gRPC 127.0.0.1:{current['grpc_port']})", NAME)
            return current
        down(state)
    build(["authorino"])
    info = state.load()
    if not alive(info.get("apiserver_pid"), "kube-apiserver"):
        raise TestWorldError(
            f"the control plane of {state.root} is not running; run `python -m testworld up` first")
    if controlplane.kubectl(state, "get", "crd", AUTHCONFIG_CRD, check=False).returncode != 0:
        raise TestWorldError(
            f"the AuthConfig CRD ({AUTHCONFIG_CRD}) is not installed; run "
            "`python -m testworld install-crds ../shared` (crds/authorino of the mirror) first")
    # Ports picked here can be taken by another process before Authorino binds them: retry then.
    attempts = 3 if grpc_port == 0 and http_port == 0 else 1
    for attempt in range(attempts):
        try:
            return _start(state, grpc_port, http_port, timeout, log_level)
        except TestWorldError as exc:
            if "address already in use" not in str(exc) or attempt == attempts - 1:
                raise
            log("a picked port was taken meanwhile; retrying Authorino with new ports", NAME)
    raise AssertionError("unreachable")  # pragma: no cover


def _start(state: State, grpc_port: int, http_port: int, timeout: float, log_level: str) -> dict:
    ports = {"grpc_port": _port(grpc_port, "grpc-port"), "http_port": _port(http_port, "http-port")}
    for name in ("oidc_port", "metrics_port", "health_port"):
        ports[name] = free_port()
    argv = [
        str(binary(NAME)), "server",
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
    pid = spawn(state, NAME, argv, env=env)
    started = time.monotonic()
    current = dict(ports, pid=pid, log=str(log_path), started_at=time.time())
    state.save_component(NAME, current)
    deadline = started + timeout
    last = ""
    while time.monotonic() < deadline:
        if not alive(pid, NAME):
            detail = tail(log_path)
            down(state)
            raise TestWorldError(f"authorino exited during start-up; last log lines:\n{detail}")
        ok, last = readyz(ports["health_port"])
        if ok:
            current["ready_seconds"] = round(time.monotonic() - started, 3)
            state.save_component(NAME, current)
            log(f"authorino ready in {current['ready_seconds']}s: gRPC ext_authz on port "
                f"{ports['grpc_port']}, raw HTTP on {ports['http_port']} (log {log_path})", NAME)
            return current
        time.sleep(0.2)
    detail = tail(log_path)
    down(state)
    raise TestWorldError(f"authorino not ready after {timeout:.0f}s ({last}); last log lines:\n{detail}")


def down(state: State) -> None:
    """Stop Authorino by its process id; nothing is left running."""
    current = load(state)
    if current.get("pid"):
        stop_pid(current["pid"], NAME)
    if current:
        current["pid"] = None
        state.save_component(NAME, current)


def status(state: State) -> bool:
    current = load(state)
    if not alive(current.get("pid"), NAME):
        print(f"authorino stopped (state {state.root})")
        return False
    ok, detail = readyz(current["health_port"])
    print(f"authorino {'ready' if ok else 'not ready: ' + detail}: pid {current['pid']}, gRPC port "
          f"{current['grpc_port']}, HTTP port {current['http_port']}, log {current['log']}")
    return ok
