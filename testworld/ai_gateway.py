"""Envoy AI Gateway v1.0.0, the real controller, run out of cluster: AIGatewayRoutes get their status from the real
code (``cmd/controller``, built from ``go/ai_gateway``), which generates their HTTPRoutes and serves Envoy Gateway's
extension server (gRPC), run with the flags the collection's ai-gateway-helm release gives its Deployment.

A small supervisor (``python -m testworld.ai_gateway run``, the process ``up`` starts and ``down`` stops by pid)
does what the chart's Deployment would do in a cluster:

1. It waits until the chart's objects exist in ``envoy-ai-gateway-system``: the Deployment
   ``ai-gateway-controller``, the MutatingWebhookConfiguration ``envoy-ai-gateway-gateway-pod-mutator.<ns>`` (the
   controller reads it at start, requires exactly one webhook in it and writes its CA bundle; it exits without it)
   and the webhook's TLS Secret (``self-signed-cert-for-mutating-webhook``, which the chart renders with a CA of
   its own). Without the Secret (``certManager.enable`` and no cert-manager) it makes the TLS material itself
   with openssl (a CA and a serving certificate for the Service's DNS names) in ``<state>/ai-gateway/certs``.
2. It runs the controller with the Deployment's container arguments (:func:`controller_args`) and environment
   (:func:`controller_env`; ``POD_NAMESPACE`` from its fieldRef) with only what running out of cluster needs
   changed: ``--tlsCertDir`` points at ``<state>/ai-gateway/certs`` (the Secret's keys written there, as the
   Secret volume on ``/certs`` would hold them) and leader election is off (the chart turns it on; one process,
   no Lease). When the Deployment's arguments, its environment or the Secret change (a new ``helm upgrade``) the
   controller is restarted; when one of the objects disappears it is stopped until they are back. A controller
   that exits is started again after 5 s.
3. Network: v1.0.0 binds wildcard ports: extension server ``:1063`` (``-port``), webhook ``:9443``
   (``-webhookPort``; controller-runtime's webhook server, every interface), controller-runtime metrics
   ``:8080`` (not configurable: the manager options set no metrics address) and the quota rate limit xDS server
   ``0.0.0.0:18002`` (``internal/ratelimit/runner``, hard-coded); pprof on ``127.0.0.1:6060``. So it runs in a
   private network namespace (``unshare --net``) with only its own loopback, like Envoy Gateway
   (:mod:`testworld.envoy_gateway`; both use :mod:`testworld.netns`): the supervisor bridges the API server in
   (``127.0.0.1:<apiserver port>`` inside, forwarded to the same port on the host's loopback) and the extension
   server out: ``127.0.0.1:<extension port>`` on the host (:func:`testworld.netns.extension_server_port`,
   recorded in the state directory) is forwarded to ``127.0.0.1:1063`` inside. Envoy Gateway's supervisor
   forwards the same port into its own namespace and points its configuration's ``extensionManager.service`` at
   it: Envoy Gateway's xDS translation calls the real extension server.

   The webhook (Envoy proxy Pods' ext_proc sidecar; the chart's ``failurePolicy: Fail`` for Pods labelled
   ``app.kubernetes.io/managed-by: envoy-gateway``): kube-apiserver calls it at its Service's ClusterIP and port
   (its default service resolver; the test world's service range is loopback, ``127.96.0.0/16``). Every pass the
   supervisor reads the configuration's ``clientConfig.service`` (name, namespace, port, default 443) and that
   Service's ``clusterIP`` and ``targetPort``, binds ``<clusterIP>:<port>`` on the host (Linux routes all of
   127.0.0.0/8 to ``lo``) and forwards each connection to ``127.0.0.1:<targetPort>`` inside the namespace
   (:class:`testworld.netns.WebhookForwarder`); a changed Service or configuration is rebound. A ClusterIP
   outside 127.0.0.0/8 (or a port already taken, e.g. by another test world with the same ClusterIP) is not
   served: logged, and the phase is ``webhook-failed`` instead of ``ready``.
4. Readiness: the gRPC health check (``grpc.health.v1.Health/Check``, what the chart's probes call) answers
   SERVING through the host port and the controller-runtime metrics endpoint answers inside the namespace.

The controller talks to the API server as ``system:ai-gateway`` (group ``system:masters``), so the audit log tells
its writes from the collection's. Logs: ``<state>/logs/ai-gateway.log`` (supervisor and controller); the
supervisor's phase is in ``<state>/ai-gateway.status.json``.

    python -m testworld.ai_gateway run --kubeconfig K --state-dir D --status-file F --apiserver-port P \\
        --extension-port E
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import sys
import time
from pathlib import Path

from testworld import controlplane
from testworld.base import State, TestWorldError, chart_version_problem, require_tools, stop_process
from testworld.gobuild import binary, build, pinned_version
from testworld.netns import (NamespacedProcess, WebhookForwarder, bridge, extension_server_port, http_get, listen,
                             namespaced_argv)
from testworld.supervision import (Kubernetes, run_parser, run_until_signalled, start_supervisor, status_ready,
                                   supervisor_status, write_status)

NAME = "ai-gateway"
BINARY = "ai-gateway-controller"
NAMESPACE = "envoy-ai-gateway-system"
DEPLOYMENT = "ai-gateway-controller"
WEBHOOK_CONFIGURATION = "envoy-ai-gateway-gateway-pod-mutator"  # cmd/controller/main.go, + "." + POD_NAMESPACE
DEFAULT_CERTS_SECRET = "self-signed-cert-for-mutating-webhook"  # the chart's controller.mutatingWebhook default
SUBJECT = "/O=system:masters/CN=system:ai-gateway"
EXTENSION_PORT = 1063  # cmd/controller/main.go: -port ":1063"
METRICS_PORT = 8080  # controller-runtime's default metrics address ":8080"
POLL_INTERVAL = 2.0
RESTART_DELAY = 5.0
# Phases in which `up` counts the supervisor as ready: waiting for the chart, or the controller is ready.
READY_PHASES = ("waiting-for-chart", "ready")


# --- pure functions (unit-tested) -------------------------------------------------------------------------------

def _flag(arg: str) -> tuple[str, str | None]:
    """``("name", value)`` of a Go flag argument (``-name=v``, ``--name=v``, ``-name``)."""
    name, sep, value = arg.lstrip("-").partition("=")
    return name, (value if sep else None)


def controller_container(deployment: dict) -> dict:
    """The controller's container of the chart's Deployment (the first one, as the chart renders a single one)."""
    containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    if not containers:
        raise TestWorldError(f"Deployment {DEPLOYMENT} has no container")
    return containers[0]


def controller_args(deployment: dict, certs: Path) -> list[str]:
    """The Deployment's controller arguments with only what running out of cluster needs changed.

    ``--tlsCertDir`` points at ``certs`` (the Secret volume's mount point in the Pod), leader election is off.
    Every other argument (images, log levels, Envoy Gateway's namespace, prefixes, watch namespaces, webhook
    port, ...) is kept as the chart rendered it.
    """
    args = []
    for arg in controller_container(deployment).get("args") or []:
        if not arg.startswith("-"):
            # A flag and its value as two arguments could not be told apart here; the chart renders -name=value.
            raise TestWorldError(f"unexpected argument {arg!r} in Deployment {DEPLOYMENT} (expected -name=value)")
        if _flag(arg)[0] in ("tlsCertDir", "enableLeaderElection"):
            continue
        args.append(arg)
    return args + [f"--tlsCertDir={certs}", "--enableLeaderElection=false"]


def extension_listen_port(args: list[str]) -> int:
    """The extension server's port inside the namespace (``-port``, default ``:1063``)."""
    port = EXTENSION_PORT
    for arg in args:
        name, value = _flag(arg)
        if name == "port" and value:
            port = int(value.rsplit(":", 1)[-1])
    return port


def controller_env(deployment: dict) -> dict:
    """The container's environment as the kubelet would set it: literal values and ``metadata.namespace``."""
    namespace = (deployment.get("metadata") or {}).get("namespace") or NAMESPACE
    env = {}
    for item in controller_container(deployment).get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
        elif ((item.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath") == "metadata.namespace":
            env[item["name"]] = namespace
        elif ((item.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath") == "metadata.name":
            env[item["name"]] = f"{DEPLOYMENT}-testworld"
        else:
            raise TestWorldError(f"Deployment {DEPLOYMENT}: environment variable {item.get('name')} comes from "
                                 f"{item.get('valueFrom')}, which the test world does not resolve")
    env.setdefault("POD_NAMESPACE", namespace)
    return env


def container_ports(deployment: dict) -> dict:
    """``{name: containerPort}`` of the controller's container (a Service's named targetPort)."""
    return {p["name"]: int(p["containerPort"]) for p in controller_container(deployment).get("ports") or []
            if p.get("name") and p.get("containerPort")}


def certs_secret_name(deployment: dict) -> str:
    """The Secret the Deployment mounts on ``/certs`` (the webhook's TLS material)."""
    mount = next((m for m in controller_container(deployment).get("volumeMounts") or []
                  if m.get("mountPath") == "/certs"), None)
    volumes = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("volumes") or []
    volume = next((v for v in volumes if mount and v.get("name") == mount.get("name")), None)
    return ((volume or {}).get("secret") or {}).get("secretName") or DEFAULT_CERTS_SECRET


def secret_files(secret_data: dict, args: list[str]) -> dict:
    """``{file name: bytes}`` for the certificate directory from a Secret's ``data`` (base64 values), as a Secret
    volume holds them; the files the controller reads (``-tlsCertName``, ``-tlsKeyName``, ``-caBundleName``)
    must be there."""
    names = {"tlsCertName": "tls.crt", "tlsKeyName": "tls.key", "caBundleName": "ca.crt"}
    for arg in args:
        name, value = _flag(arg)
        if name in names and value:
            names[name] = value
    missing = [f for f in names.values() if not (secret_data or {}).get(f)]
    if missing:
        raise TestWorldError(f"the webhook's TLS Secret lacks {', '.join(missing)}")
    return {key: base64.b64decode(value) for key, value in secret_data.items()}


def fingerprint(*parts) -> str:
    """A digest of what the controller is started from (restart when it changes)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def supervisor_ready(status_file: Path, started: float):
    """Readiness of the supervisor for ``up``: waiting for the chart's objects, or the controller is ready."""
    return status_ready(status_file, started, READY_PHASES)


# --- the supervisor ---------------------------------------------------------------------------------------------

def _log(msg: str) -> None:
    print(f"ai-gateway supervisor: {msg}", file=sys.stderr, flush=True)


def grpc_serving(port: int, timeout: float = 2.0) -> bool:
    """``grpc.health.v1.Health/Check`` (service "") on ``127.0.0.1:port`` answers SERVING."""
    try:
        import grpc  # pylint: disable=import-outside-toplevel
    except ImportError:  # grpcio is a test requirement; without it a TCP connect has to do
        try:
            socket.create_connection(("127.0.0.1", port), timeout=timeout).close()
            return True
        except OSError:
            return False
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        try:
            # An empty HealthCheckRequest; the response's field 1 (status) is 1 = SERVING.
            return check(b"", timeout=timeout) == b"\x08\x01"
        except grpc.RpcError:
            return False


class Supervisor:
    def __init__(self, args):
        self.args = args
        self.kube = Kubernetes(args.kubeconfig)
        self.home = args.state_dir / NAME
        self.certs = self.home / "certs"
        self.binary = str(binary(BINARY))
        self.controller = NamespacedProcess()
        self.fingerprint: str | None = None
        self.inside_port = EXTENSION_PORT
        self.webhook = WebhookForwarder(self.controller.dial, _log)
        self.stopping = False

    def status(self, phase: str, detail: str = "") -> None:
        if phase == "ready" and self.webhook.error:
            phase, detail = "webhook-failed", self.webhook.error
        write_status(self.args.status_file, phase, detail, webhooks=self.webhook.served(),
                     controller_pid=self.controller.pid())

    def read_chart(self):
        """``(deployment dict, secret data or None)``, or ``None`` with the reason while the chart is missing."""
        ns, kube = self.args.namespace, self.kube
        deployment = kube.read(kube.apps.read_namespaced_deployment, DEPLOYMENT, ns)
        if deployment is None:
            return None, f"no Deployment {ns}/{DEPLOYMENT}"
        problem = chart_version_problem(deployment, pinned_version(NAME))
        if problem:
            return None, problem
        if kube.read(kube.admission.read_mutating_webhook_configuration, f"{WEBHOOK_CONFIGURATION}.{ns}") is None:
            return None, f"no MutatingWebhookConfiguration {WEBHOOK_CONFIGURATION}.{ns}"
        secret = kube.read(kube.core.read_namespaced_secret, certs_secret_name(deployment), ns)
        return (deployment, secret.get("data") if secret is not None else None), ""

    def refresh_webhook(self, deployment: dict | None) -> None:
        """The pod mutator at its Service's ClusterIP (:class:`testworld.netns.WebhookForwarder`)."""
        name = f"{WEBHOOK_CONFIGURATION}.{self.args.namespace}"
        kube = self.kube
        self.webhook.refresh(name, lambda: kube.read(kube.admission.read_mutating_webhook_configuration, name),
                             lambda ns, svc: kube.read(kube.core.read_namespaced_service, svc, ns),
                             container_ports(deployment) if deployment else None)

    def write_certs(self, secret_data: dict | None, args: list[str]) -> None:
        self.certs.mkdir(parents=True, exist_ok=True)
        os.chmod(self.certs, 0o700)
        if secret_data is None:
            self.make_certs()
            return
        for old in self.certs.iterdir():
            old.unlink()
        for name, content in secret_files(secret_data, args).items():
            path = self.certs / name
            path.write_bytes(content)
            os.chmod(path, 0o600)

    def make_certs(self) -> None:
        """The webhook's TLS material when the chart rendered no Secret: a CA and a serving certificate."""
        if (self.certs / "tls.crt").exists() and (self.certs / "ca.key").exists():
            return
        _log(f"no TLS Secret for the webhook: making a CA and a serving certificate in {self.certs}")
        ns = self.args.namespace
        names = [DEPLOYMENT, f"{DEPLOYMENT}.{ns}", f"{DEPLOYMENT}.{ns}.svc", f"{DEPLOYMENT}.{ns}.svc.cluster.local"]
        (self.certs / "serving.ext").write_text(
            "subjectAltName=" + ",".join(f"DNS:{n}" for n in names) + "\nextendedKeyUsage=serverAuth\n")
        controlplane.openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
                             "-days", "3650", "-subj", f"/CN={DEPLOYMENT}-ca", cwd=self.certs)
        controlplane.openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tls.key", "-out", "tls.csr",
                             "-subj", f"/CN={DEPLOYMENT}.{ns}.svc", cwd=self.certs)
        controlplane.openssl("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                             "-out", "tls.crt", "-days", "365", "-extfile", "serving.ext", cwd=self.certs)
        for key in self.certs.glob("*.key"):
            os.chmod(key, 0o600)

    def start_controller(self, deployment: dict, secret_data: dict | None) -> None:
        args = controller_args(deployment, self.certs)
        self.inside_port = extension_listen_port(args)
        self.write_certs(secret_data, args)
        env = dict(os.environ, KUBECONFIG=str(self.args.kubeconfig), **controller_env(deployment))
        # The API server, at the same address inside the namespace as on the host (the kubeconfig's).
        self.controller.start(namespaced_argv([self.binary, *args]), [self.args.apiserver_port], env=env)
        _log(f"controller started (pid {self.controller.proc.pid}): {' '.join(args)}")

    def metrics_ok(self) -> bool:
        return http_get(lambda: self.controller.dial(METRICS_PORT), "/metrics")[0] == 200

    def controller_ready(self) -> bool:
        return self.metrics_ok() and grpc_serving(self.args.extension_port)

    def serve_extension(self) -> None:
        """The extension server, bridged from the host's loopback into the namespace (Envoy Gateway dials it)."""
        bridge(listen(self.args.extension_port), lambda: self.controller.dial(self.inside_port))

    def loop(self) -> None:
        self.serve_extension()
        exited_at = None
        chart = None
        self.status("starting", "reading the chart's objects")  # `up` waits for the first pass
        while not self.stopping:
            try:
                chart, reason = self.read_chart()
                self.refresh_webhook(chart[0] if chart else None)
                current = fingerprint(controller_args(chart[0], self.certs), controller_env(chart[0]),
                                      chart[1]) if chart else None
                if current != self.fingerprint:
                    self.controller.stop()
                    self.fingerprint = current
                    if chart is None:
                        _log(f"{reason}: waiting")
                        self.status("waiting-for-chart", reason)
                    else:
                        _log(f"starting the controller with the arguments of {self.args.namespace}/{DEPLOYMENT}")
                        self.status("starting")
                        self.start_controller(*chart)
                        exited_at = None
                elif self.controller.exited():
                    rc = self.controller.proc.returncode
                    _log(f"controller exited with {rc}; restarting in {RESTART_DELAY:.0f}s")
                    self.controller.stop()
                    exited_at = time.monotonic()
                    self.status("exited", f"controller exited with {rc}")
                elif self.controller.proc is None and chart is not None and exited_at is not None \
                        and time.monotonic() - exited_at >= RESTART_DELAY:
                    self.status("starting")
                    self.start_controller(*chart)
                    exited_at = None
                elif self.controller.proc is not None:
                    self.status("ready" if self.controller_ready() else "starting")
                elif chart is None:
                    self.status("waiting-for-chart", reason)
            except Exception as exc:  # noqa: BLE001 - logged and retried, as a controller would
                _log(f"pass failed: {exc}")
                self.status("failed", str(exc))
                self.fingerprint = None  # try again from the start on the next pass
                self.controller.stop()
            time.sleep(POLL_INTERVAL)
        self.controller.stop()
        self.webhook.close()


def run(argv=None) -> int:
    parser, p_run = run_parser(__doc__, "supervise the AI Gateway controller (see the module docstring)")
    p_run.add_argument("--kubeconfig", type=Path, required=True)
    p_run.add_argument("--state-dir", type=Path, required=True)
    p_run.add_argument("--status-file", type=Path, required=True)
    p_run.add_argument("--apiserver-port", type=int, required=True)
    p_run.add_argument("--extension-port", type=int, required=True,
                       help="host loopback port of the extension server (Envoy Gateway dials it)")
    p_run.add_argument("--namespace", default=NAMESPACE)
    supervisor = Supervisor(parser.parse_args(argv))
    return run_until_signalled(supervisor, supervisor.controller.stop)


# --- the component ----------------------------------------------------------------------------------------------

def up(state: State, timeout: float = 90.0) -> dict:
    build([NAME])
    require_tools(("unshare", "ip", "openssl"), "the AI Gateway controller runs in a private network namespace")
    kubeconfig = controlplane.identity_kubeconfig(state, NAME, SUBJECT)
    status_file = state.root / f"{NAME}.status.json"
    port = extension_server_port(state)
    args = [f"--kubeconfig={kubeconfig}", f"--state-dir={state.root}", f"--status-file={status_file}",
            f"--apiserver-port={state.load()['port']}", f"--extension-port={port}"]
    return start_supervisor(state, NAME, "testworld.ai_gateway", args, supervisor_ready(status_file, time.time()),
                            timeout, info={"extension_port": port, "status_file": str(status_file)})


def down(state: State) -> None:
    stop_process(state, NAME)


def status(state: State) -> bool:
    return supervisor_status(state, NAME, supervisor_ready)


if __name__ == "__main__":
    sys.exit(run())
