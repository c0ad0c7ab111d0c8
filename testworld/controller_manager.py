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

Storage: MicroK8s's ``hostpath-storage`` addon (which the ``microk8s`` role enables) gives a cluster the
default StorageClass ``microk8s-hostpath``, served by the addon's hostpath-provisioner pod. Here the same
StorageClass is served by kube-controller-manager's own host-path provisioner (``--enable-hostpath-provisioner``,
upstream's provisioner for testing; volumes are directories under ``/tmp/hostpath_pv``), so PersistentVolumeClaims
bind and pods that mount them are scheduled as on MicroK8s.
"""

from __future__ import annotations

import json
import subprocess

from testworld import controlplane
from testworld.base import State, TestWorldError, stop_process
from testworld.gobuild import binary

NAME = "kube-controller-manager"
# What MicroK8s's hostpath-storage addon creates, with the provisioner kube-controller-manager serves.
STORAGE_CLASS = {
    "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
    "metadata": {"name": "microk8s-hostpath",
                 "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
    "provisioner": "kubernetes.io/host-path", "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"}


def up(state: State, timeout: float = 90.0) -> dict:
    pki = state.pki
    info = controlplane.start_kube_binary(state, NAME, "/CN=system:kube-controller-manager", [
        "--controllers=*", f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
        f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
        "--use-service-account-credentials=true", "--enable-hostpath-provisioner=true"], timeout)
    existing = controlplane.kubectl(state, "get", "storageclass", "-o", "name").stdout.split()
    if "storageclass.storage.k8s.io/" + STORAGE_CLASS["metadata"]["name"] not in existing:
        proc = subprocess.run([str(binary("kubectl")), f"--kubeconfig={state.kubeconfig}", "create", "-f", "-"],
                              input=json.dumps(STORAGE_CLASS), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise TestWorldError(f"creating the StorageClass microk8s-hostpath failed: {proc.stderr.strip()}")
    return info


def down(state: State) -> None:
    stop_process(state, NAME)


def status(state: State) -> bool:
    return controlplane.kube_binary_status(state, NAME)
