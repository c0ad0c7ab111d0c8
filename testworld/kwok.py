"""KWOK v0.8.0: the test world's nodes and pods, simulated the way the Kubernetes community tests control
planes at scale without kubelets.

``kwok`` (built from ``go/kwok``) manages every Node object (the inventory's hosts, registered by
``controlplane.register_nodes`` with a GB10 host's labels, arm64, CPU and memory) and every pod the
scheduler binds to them, through Stage objects: KWOK's own documented "fast" stages as the pinned
module ships them (``kustomize/stage/node/fast``, ``node/heartbeat-with-lease``, ``pod/fast``: nodes
initialise and keep a Ready lease; pods go Running and Ready, Job pods Succeed, deleted pods go away).

Loopback only: node IPs are ``127.0.0.1`` (``--node-ip``) and pod IPs come from ``127.1.0.0/16``
(``--cidr``), so anything that dials a pod (an endpoint picker, a metrics scraper) reaches this machine
and nothing else. KWOK talks to the API server as ``system:kwok`` (its own certificate); its health
endpoint is on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from testworld import controlplane
from testworld.base import State, TestWorldError, free_port, http_ok, process_status, start_process, stop_process
from testworld.gobuild import binary, build, module_dir

NAME = "kwok"
POD_CIDR = "127.1.0.0/16"
NODE_IP = "127.0.0.1"
# KWOK's documented fast stages, in the module at the pinned version (kustomize/stage/fast lists them).
STAGE_FILES = ("node/fast/node-initialize.yaml", "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
               "pod/fast/pod-ready.yaml", "pod/fast/pod-complete.yaml", "pod/fast/pod-delete.yaml")


def module_source() -> Path:
    """Where the Go module cache holds sigs.k8s.io/kwok at the version ``go/kwok`` pins."""
    proc = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok"], cwd=module_dir(NAME),
                          env=dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-mod=mod"), capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise TestWorldError(f"cannot locate the sigs.k8s.io/kwok module source: {proc.stderr.strip()}")
    return Path(proc.stdout.strip())


def write_stages(state: State) -> Path:
    source = module_source() / "kustomize" / "stage"
    missing = [name for name in STAGE_FILES if not (source / name).is_file()]
    if missing:
        raise TestWorldError(f"KWOK's stage files {', '.join(missing)} are not in {source}")
    path = state.root / "kwok-stages.yaml"
    path.write_text("\n---\n".join((source / name).read_text().strip() for name in STAGE_FILES) + "\n")
    return path


def _ready(port: int):
    return lambda: http_ok(f"http://127.0.0.1:{port}/healthz")


def up(state: State, timeout: float = 90.0) -> dict:
    build([NAME])
    kubeconfig = controlplane.identity_kubeconfig(state, NAME, "/O=system:masters/CN=system:kwok")
    current = state.load_component(NAME)
    port = current.get("port") or free_port()
    argv = [str(binary(NAME)), f"--kubeconfig={kubeconfig}", f"--config={write_stages(state)}",
            "--manage-all-nodes=true", f"--cidr={POD_CIDR}", f"--node-ip={NODE_IP}",
            "--node-lease-duration-seconds=40", f"--server-address=127.0.0.1:{port}"]
    return start_process(state, NAME, argv, _ready(port), timeout, info={"port": port, "pod_cidr": POD_CIDR})


def down(state: State) -> None:
    stop_process(state, NAME)


def status(state: State) -> bool:
    port = state.load_component(NAME).get("port")
    return process_status(state, NAME, _ready(port) if port else None)
