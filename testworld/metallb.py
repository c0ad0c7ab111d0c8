"""MetalLB v0.15.2's controller, the real LoadBalancer address allocator, run out of cluster: a Service of type
LoadBalancer (the Envoy proxy Service Envoy Gateway creates for a Gateway) gets ``status.loadBalancer.ingress``
from the real code, as MicroK8s' metallb addon gives it in production, so Envoy Gateway can set the Gateway's
``Programmed`` condition.

v0.15.2 is what MicroK8s 1.35's metallb addon deploys (canonical/microk8s-core-addons, branch 1.35,
``addons/metallb/metallb.yaml``: ``quay.io/metallb/controller:v0.15.2``); its CRDs (``addons/metallb/crd.yaml``)
are the module's ``config/crd/bases`` at that version. Only the controller runs: the speaker (the L2/BGP
announcer, a DaemonSet on every node) is not needed to allocate addresses and never runs here.

``up`` does what ``microk8s enable metallb:<range>`` does, then starts the controller:

1. server-side applies the CRDs from the module source (``config/crd/bases`` of go.universe.tf/metallb in the Go
   module cache) -- without the kustomize patch that makes ``bgppeers.metallb.io`` convert through the webhook
   Service (no webhook server runs here);
2. creates the namespace ``metallb-system``, the IPAddressPool ``default-addresspool`` with the test world's
   loopback range (:data:`DEFAULT_ADDRESSES`, ``127.240.0.0/24``; ``$TOKENLABS_METALLB_ADDRESSES`` overrides it,
   loopback only) and the L2Advertisement ``default-advertise-all-pools``, named as the addon names them (the
   controller does not need the advertisement; without a speaker nothing announces anything);
3. starts a small supervisor (``python -m testworld.metallb run``, the process ``up`` starts and ``down`` stops by
   pid) that runs ``metallb-controller --namespace=metallb-system --webhook-mode=disabled`` as the user
   ``system:metallb-controller`` (group ``system:masters``), so the audit log tells its writes from the collection's.

Network: with the webhook disabled the controller opens one listener, its Prometheus endpoint, on a hard-coded
wildcard host (``internal/k8s``: ``net.JoinHostPort(cfg.MetricsHost, port)``; ``cmd/controller`` never sets
``MetricsHost``); controller-runtime's own metrics, health probe and pprof servers are off. So the controller runs
in a private network namespace (``unshare --net``) with only its own loopback, as ``testworld.envoy_gateway``
runs Envoy Gateway (both use :mod:`testworld.netns`): the supervisor bridges the API server in
(``127.0.0.1:<apiserver port>`` inside, as in the kubeconfig) and the metrics endpoint out
(``127.0.0.1:<metrics_port>`` on the host to ``:7472`` inside, the Deployment's port). Running as root is required.
The supervisor's readiness is the Deployment's readiness probe (``GET /metrics`` answers 200) plus proof that the
pool was read (the allocator's ``metallb_allocator_addresses_total`` gauge for it); a controller that exits is
started again after 5 s. Logs: ``<state>/logs/metallb.log``; the phase is in ``<state>/metallb.status.json``.

    python -m testworld.metallb run --kubeconfig K --status-file F --apiserver-port P --metrics-port M \\
        [--pool default-addresspool] [--namespace metallb-system]
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from testworld import controlplane
from testworld.base import State, TestWorldError, alive, free_port, log, require_tools, stop_process
from testworld.gobuild import binary, build, module_dir
from testworld.netns import NamespacedProcess, bridge, http_get, listen, namespaced_argv
from testworld.supervision import (run_parser, run_until_signalled, start_supervisor, status_ready, supervisor_status,
                                   write_status)

NAME = "metallb"
BINARY = "metallb-controller"
MODULE = "go.universe.tf/metallb"
NAMESPACE = "metallb-system"
SUBJECT = "/O=system:masters/CN=system:metallb-controller"
# Named as MicroK8s' addon names them (addons/metallb/addresspool.yaml).
POOL = "default-addresspool"
L2_ADVERTISEMENT = "default-advertise-all-pools"
# Loopback only: an address MetalLB hands out must never be one of a real network's.
DEFAULT_ADDRESSES = "127.240.0.0/24"
ADDRESSES_ENV = "TOKENLABS_METALLB_ADDRESSES"
METRICS_PORT = 7472  # the Deployment's --port (container port "monitoring"), inside the namespace
FIELD_MANAGER = "tokenlabs-testworld-metallb"
RESTART_DELAY = 5.0
POLL_INTERVAL = 1.0
READY_PHASE = "ready"


# --- pure functions (unit-tested) -------------------------------------------------------------------------------

def loopback_ranges(text: str) -> list[str]:
    """The comma-separated ranges of an address pool (CIDRs or ``first-last``), each checked to lie in 127.0.0.0/8.

    The test world's LoadBalancer addresses are loopback addresses: a range of a real network (10.x, 172.16-31.x,
    192.168.x, anything routable) is refused.
    """
    loopback = ipaddress.ip_network("127.0.0.0/8")
    ranges = [part.strip() for part in (text or "").split(",") if part.strip()]
    if not ranges:
        raise TestWorldError("the MetalLB address range is empty; use a loopback range such as 127.240.0.0/24")
    for part in ranges:
        try:
            if "-" in part:
                first, last = (ipaddress.ip_address(p.strip()) for p in part.split("-", 1))
                if int(first) > int(last):
                    raise ValueError(f"{first} comes after {last}")
                inside = first in loopback and last in loopback
            else:
                network = ipaddress.ip_network(part, strict=True)
                inside = network.version == 4 and network.subnet_of(loopback)
        except (ValueError, TypeError) as exc:
            raise TestWorldError(f"MetalLB address range {part!r} is not a CIDR or first-last range: {exc}")
        if not inside:
            raise TestWorldError(f"MetalLB address range {part!r} is not on loopback (127.0.0.0/8); the test world "
                                 "hands out loopback addresses only, e.g. 127.240.0.0/24")
    return ranges


def pool_objects(addresses: list[str], namespace: str = NAMESPACE) -> list[dict]:
    """The namespace and what ``microk8s enable metallb:<range>`` creates in it (addons/metallb/addresspool.yaml)."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
         "metadata": {"name": POOL, "namespace": namespace}, "spec": {"addresses": list(addresses)}},
        {"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement",
         "metadata": {"name": L2_ADVERTISEMENT, "namespace": namespace}},
    ]


def controller_args(kubeconfig: Path, namespace: str = NAMESPACE, port: int = METRICS_PORT) -> list[str]:
    """The controller's flags: the Deployment's (``--port``, ``--log-level``, ``--tls-min-version``), the namespace a
    pod would read from its service account, the webhook off (no Service routes to it out of cluster, and cert
    rotation would need one); no memberlist Secret (``METALLB_ML_SECRET_NAME`` unset: it is for speakers)."""
    return [f"--kubeconfig={kubeconfig}", f"--namespace={namespace}", f"--port={port}", "--log-level=info",
            "--tls-min-version=VersionTLS12", "--webhook-mode=disabled"]


def pool_read(metrics: str, pool: str = POOL) -> bool:
    """Whether the allocator has taken ``pool`` in (its capacity gauge is exported)."""
    prefix = f'metallb_allocator_addresses_total{{pool="{pool}"}}'
    return any(line.startswith(prefix) for line in metrics.splitlines())


def supervisor_ready(status_file: Path, started: float):
    """Readiness of the supervisor for ``up``: the controller answers /metrics and has read the pool."""
    return status_ready(status_file, started, (READY_PHASE,))


# --- the supervisor ---------------------------------------------------------------------------------------------

def _log(msg: str) -> None:
    print(f"metallb supervisor: {msg}", file=sys.stderr, flush=True)


class Supervisor:
    def __init__(self, args):
        self.args = args
        self.binary = str(binary(BINARY))
        self.controller = NamespacedProcess()
        self.stopping = False

    def status(self, phase: str, detail: str = "") -> None:
        write_status(self.args.status_file, phase, detail, controller_pid=self.controller.pid())

    def start(self) -> None:
        argv = namespaced_argv([self.binary, *controller_args(self.args.kubeconfig, self.args.namespace)])
        self.controller.start(argv, [self.args.apiserver_port])
        _log(f"controller started (pid {self.controller.proc.pid})")

    def metrics(self) -> str | None:
        """``GET /metrics`` inside the namespace: the body if it answers 200."""
        code, body = http_get(lambda: self.controller.dial(METRICS_PORT), "/metrics", body=True)
        return body.decode(errors="replace") if code == 200 else None

    def serve_metrics(self) -> None:
        """The metrics endpoint, bridged from the host's loopback into the namespace."""
        bridge(listen(self.args.metrics_port), lambda: self.controller.dial(METRICS_PORT))

    def loop(self) -> None:
        self.serve_metrics()
        exited_at = None
        self.status("starting")
        while not self.stopping:
            try:
                if self.controller.exited():
                    rc = self.controller.proc.returncode
                    _log(f"controller exited with {rc}; restarting in {RESTART_DELAY:.0f}s")
                    self.controller.stop()
                    exited_at = time.monotonic()
                    self.status("exited", f"controller exited with {rc}")
                elif self.controller.proc is None and (exited_at is None
                                                       or time.monotonic() - exited_at >= RESTART_DELAY):
                    self.status("starting")
                    self.start()
                    exited_at = None
                elif self.controller.proc is not None:
                    body = self.metrics()
                    if body is None:
                        self.status("starting", f"/metrics on :{METRICS_PORT} does not answer 200 yet")
                    elif not pool_read(body, self.args.pool):
                        self.status("starting", f"IPAddressPool {self.args.namespace}/{self.args.pool} not read yet")
                    else:
                        self.status(READY_PHASE, f"pool {self.args.pool} read")
            except Exception as exc:  # noqa: BLE001 - logged and retried, as a controller would
                _log(f"pass failed: {exc}")
                self.status("failed", str(exc))
                self.controller.stop()
                exited_at = time.monotonic()
            time.sleep(POLL_INTERVAL)
        self.controller.stop()


def run(argv=None) -> int:
    parser, p_run = run_parser(__doc__, "supervise metallb-controller (see the module docstring)")
    p_run.add_argument("--kubeconfig", type=Path, required=True)
    p_run.add_argument("--status-file", type=Path, required=True)
    p_run.add_argument("--apiserver-port", type=int, required=True)
    p_run.add_argument("--metrics-port", type=int, required=True, help="host loopback port of /metrics")
    p_run.add_argument("--namespace", default=NAMESPACE)
    p_run.add_argument("--pool", default=POOL, help="the IPAddressPool whose intake marks the controller ready")
    supervisor = Supervisor(parser.parse_args(argv))
    return run_until_signalled(supervisor, supervisor.controller.stop)


# --- the component ----------------------------------------------------------------------------------------------

def module_source() -> Path:
    """Where the Go module cache holds go.universe.tf/metallb at the version ``go/metallb`` pins."""
    proc = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", MODULE], cwd=module_dir(NAME),
                          env=dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-mod=mod"), capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise TestWorldError(f"cannot locate the {MODULE} module source: {proc.stderr.strip()}")
    return Path(proc.stdout.strip())


def crd_dir() -> Path:
    path = module_source() / "config" / "crd" / "bases"
    if not sorted(path.glob("metallb.io_*.yaml")):
        raise TestWorldError(f"MetalLB's CRDs (metallb.io_*.yaml) are not in {path}")
    return path


def addresses_from_env() -> list[str]:
    return loopback_ranges(os.environ.get(ADDRESSES_ENV) or DEFAULT_ADDRESSES)


def apply_pool(state: State, addresses: list[str]) -> None:
    """Server-side apply the namespace, the IPAddressPool and the L2Advertisement (as the admin)."""
    proc = subprocess.run(
        [str(binary("kubectl")), f"--kubeconfig={state.kubeconfig}", "apply", "--server-side", "--force-conflicts",
         f"--field-manager={FIELD_MANAGER}", "-f", "-"],
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": pool_objects(addresses)}),
        capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise TestWorldError(f"applying the MetalLB pool failed: {proc.stderr.strip()}")


def up(state: State, timeout: float = 90.0) -> dict:
    """Install the CRDs and the pool, then start the supervisor; already running and ready: nothing is written."""
    addresses = addresses_from_env()
    status_file = state.root / f"{NAME}.status.json"
    current = state.load_component(NAME)
    if alive(current.get("pid"), current.get("binary") or "") and \
            supervisor_ready(status_file, time.time() - 3 * POLL_INTERVAL)()[0]:
        log(f"already running (pid {current['pid']})", NAME)
        return current
    stop_process(state, NAME)
    status_file.unlink(missing_ok=True)  # a status of a previous run must not count as ready
    build([NAME, "kube"])
    require_tools(("unshare", "ip"), "the MetalLB controller runs in a private network namespace")
    controlplane.install_crds(state, crd_dir())
    apply_pool(state, addresses)
    kubeconfig = controlplane.identity_kubeconfig(state, NAME, SUBJECT)
    metrics = current.get("metrics_port") or free_port()
    args = [f"--kubeconfig={kubeconfig}", f"--status-file={status_file}", f"--apiserver-port={state.load()['port']}",
            f"--metrics-port={metrics}"]
    info = start_supervisor(state, NAME, "testworld.metallb", args, supervisor_ready(status_file, time.time()), timeout,
                            info={"metrics_port": metrics, "status_file": str(status_file), "addresses": addresses})
    log(f"pool {NAMESPACE}/{POOL}: {', '.join(addresses)}; metrics on http://127.0.0.1:{metrics}/metrics", NAME)
    return info


def down(state: State) -> None:
    stop_process(state, NAME)


def status(state: State) -> bool:
    return supervisor_status(state, NAME, supervisor_ready)


if __name__ == "__main__":
    sys.exit(run())
