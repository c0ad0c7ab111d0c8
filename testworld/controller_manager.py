"""kube-controller-manager v1.35.4, the real controllers, out of cluster against the local control plane.

Built from the same wrapper module and go.sum as kube-apiserver (``go/kube``, component
``kube-controllers``); every controller on (``--controllers=*``): Deployments roll, ReplicaSets make
pods, Jobs complete, EndpointSlices follow Ready pods, the node lifecycle controller removes the
``not-ready`` taint and evicts, ServiceAccount tokens are signed with the control plane's key and the
root CA is published. It talks to the API server as ``system:kube-controller-manager`` and, as kubeadm
sets it up, runs each controller with its own ServiceAccount's credentials
(``--use-service-account-credentials``: the default RBAC grants the controllers' roles to those
ServiceAccounts, not to the manager's own identity); leader election off, its secure port (health
only) on 127.0.0.1.
"""

from __future__ import annotations

from testworld import controlplane
from testworld.base import State, free_port, http_ok, process_status, start_process, stop_process
from testworld.gobuild import binary, build

NAME = "kube-controller-manager"


def _ready(port: int):
    return lambda: http_ok(f"https://127.0.0.1:{port}/healthz")


def up(state: State, timeout: float = 90.0) -> dict:
    build(["kube-controllers"])
    kubeconfig = controlplane.identity_kubeconfig(state, NAME, "/CN=system:kube-controller-manager")
    current = state.load_component(NAME)
    port = current.get("port") or free_port()
    pki = state.pki
    argv = [str(binary(NAME)), f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}", "--leader-elect=false", "--bind-address=127.0.0.1",
            f"--secure-port={port}", f"--cert-dir={state.root / 'certs' / NAME}", "--controllers=*",
            f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--use-service-account-credentials=true", "--v=1"]
    return start_process(state, NAME, argv, _ready(port), timeout, info={"port": port})


def down(state: State) -> None:
    stop_process(state, NAME)


def status(state: State) -> bool:
    port = state.load_component(NAME).get("port")
    return process_status(state, NAME, _ready(port) if port else None)
