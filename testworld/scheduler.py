"""kube-scheduler v1.35.4, the real scheduler, out of cluster against the local control plane.

Built from the same wrapper module and go.sum as kube-apiserver (``go/kube``, component
``kube-controllers``). It talks to the API server as ``system:kube-scheduler`` (its own client
certificate, bound by the API server's default RBAC), leader election off, its secure port (health
only) on 127.0.0.1. It decides where every pod of the test world runs -- including refusals such as
``Insufficient nvidia.com/gpu``.
"""

from __future__ import annotations

from testworld import controlplane
from testworld.base import State, stop_process

NAME = "kube-scheduler"


def up(state: State, timeout: float = 90.0) -> dict:
    return controlplane.start_kube_binary(state, NAME, "/CN=system:kube-scheduler", [], timeout)


def down(state: State) -> None:
    stop_process(state, NAME)


def status(state: State) -> bool:
    return controlplane.kube_binary_status(state, NAME)
