"""kube-scheduler v1.35.4, the real scheduler, out of cluster against the local control plane.

Built from the same wrapper module and go.sum as kube-apiserver (``go/kube``, component
``kube-controllers``). It talks to the API server as ``system:kube-scheduler`` (its own client
certificate, bound by the API server's default RBAC), leader election off, its secure port (health
only) on 127.0.0.1. It decides where every pod of the test world runs -- including refusals such as
``Insufficient nvidia.com/gpu``.
"""

from __future__ import annotations

from testworld import controlplane
from testworld.base import State, free_port, http_ok, process_status, start_process, stop_process
from testworld.gobuild import binary, build

NAME = "kube-scheduler"


def _ready(port: int):
    return lambda: http_ok(f"https://127.0.0.1:{port}/healthz")


def up(state: State, timeout: float = 90.0) -> dict:
    build(["kube-controllers"])
    kubeconfig = controlplane.identity_kubeconfig(state, NAME, "/CN=system:kube-scheduler")
    current = state.load_component(NAME)
    port = current.get("port") or free_port()
    argv = [str(binary(NAME)), f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}", "--leader-elect=false", "--bind-address=127.0.0.1",
            f"--secure-port={port}", f"--cert-dir={state.root / 'certs' / NAME}", "--v=1"]
    return start_process(state, NAME, argv, _ready(port), timeout, info={"port": port})


def down(state: State) -> None:
    stop_process(state, NAME)


def status(state: State) -> bool:
    port = state.load_component(NAME).get("port")
    return process_status(state, NAME, _ready(port) if port else None)
