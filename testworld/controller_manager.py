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
from testworld.base import State, stop_process

NAME = "kube-controller-manager"


def up(state: State, timeout: float = 90.0) -> dict:
    pki = state.pki
    return controlplane.start_kube_binary(state, NAME, "/CN=system:kube-controller-manager", [
        "--controllers=*", f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
        f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
        "--use-service-account-credentials=true"], timeout)


def down(state: State) -> None:
    stop_process(state, NAME)


def status(state: State) -> bool:
    return controlplane.kube_binary_status(state, NAME)
