"""Envoy Gateway v1.9.0, the real controller, run out of cluster: Gateway API objects get their status from the
real code (``envoy-gateway server``, built from ``go/envoy_gateway``), judged against the configuration the
collection's chart values produce.

A small supervisor (``python -m testworld.envoy_gateway run``, the process ``up`` starts and ``down`` stops by
pid) does what the chart's Deployment and certgen Job would do in a cluster:

1. It waits until the chart's ConfigMap ``envoy-gateway-config`` (key ``envoy-gateway.yaml``) exists in
   ``envoy-gateway-system`` and writes it to ``<state>/envoy-gateway/envoy-gateway.yaml`` with only what running
   out of cluster needs changed (:func:`out_of_cluster_config`: leader election disabled; an admin address
   other than loopback moved to ``127.0.0.1``).
2. If the Secret ``envoy-gateway`` is missing it runs ``envoy-gateway certgen`` once, as the chart's Job does
   (Secrets ``envoy-gateway``, ``envoy``, ``envoy-rate-limit``, ``envoy-oidc-hmac``; with
   ``--disable-topology-injector`` when the chart created no ``envoy-gateway-topology-injector.<ns>``
   MutatingWebhookConfiguration, as the chart's Job template does when the injector is off).
3. It starts ``envoy-gateway server --config-path F`` in a private mount and network namespace
   (``unshare -m -n``):

   - TLS: v1.9.0 reads ``/certs/{tls.crt,tls.key,ca.crt}`` from hard-coded paths (``internal/xds/runner``,
     ``internal/gatewayapi/runner``, ``internal/globalratelimit/runner``, the topology-injector webhook of
     ``internal/provider/kubernetes``) and keeps its Wasm cache in ``/var/lib/eg/wasm``. Inside the private
     mount namespace ``<state>/envoy-gateway/certs`` (filled from the Secret ``envoy-gateway``) is bind-mounted
     on ``/certs`` and ``<state>/envoy-gateway/var-lib-eg`` on ``/var/lib/eg``. **Both mount points must exist
     on the host: ``up`` creates ``/certs`` and ``/var/lib/eg`` as empty directories if they are missing**;
     nothing is ever written into them on the host. Running as root (``unshare``, ``mount``) is required.
   - Network: v1.9.0 binds hard-coded wildcard ports (health probe ``:8081``, controller-runtime metrics
     ``:8080``, xDS ``0.0.0.0:18000``, rate limit xDS ``0.0.0.0:18001``, Wasm cache ``:18002``, metrics
     ``0.0.0.0:19001``, topology-injector webhook ``:9443``); none of them can be moved to 127.0.0.1 by
     configuration. The private network namespace has
     only its own loopback: nothing the controller opens is reachable from this machine's interfaces, two test
     worlds never collide on those ports, and the controller can dial nothing but what the supervisor bridges:
     the API server (``127.0.0.1:<apiserver port>`` inside the namespace, forwarded to the same port on the
     host's loopback), the extension server (below) and, the other way, the admin console
     (``127.0.0.1:<admin_port>`` on the host, forwarded to the configured admin port inside). The supervisor
     probes ``/readyz`` on 8081 inside the namespace.
   - Topology-injector webhook: kube-apiserver calls it at its Service's ClusterIP and port (loopback: the test
     world's service range is ``127.96.0.0/16``). Every pass the supervisor reads the MutatingWebhookConfiguration
     ``envoy-gateway-topology-injector.<ns>`` (``clientConfig.service``: name, namespace, port, default 443) and
     that Service's ``clusterIP`` and ``targetPort``, binds ``<clusterIP>:<port>`` on the host and forwards each
     connection to ``127.0.0.1:<targetPort>`` inside the namespace (:class:`testworld.netns.WebhookForwarder`,
     which :mod:`testworld.ai_gateway` uses for its pod mutator too); a changed Service or configuration is rebound. A
     ClusterIP outside 127.0.0.0/8 (or a port already taken) is not served: logged, and the phase is
     ``webhook-failed`` instead of ``ready``.
   - Extension server: the chart's ``extensionManager.service`` (the collection's: the AI Gateway controller at
     ``ai-gateway-controller.<ns>.svc.cluster.local:1063``) names a Service nothing resolves here. The written
     configuration points it at ``ip: 127.0.0.1:<extension port>`` instead (:func:`out_of_cluster_config`; the
     port is :func:`testworld.netns.extension_server_port`, one per state directory) and the supervisor forwards
     that port inside the namespace to the same port on the host's loopback, where :mod:`testworld.ai_gateway`
     serves the real AI Gateway extension server (its supervisor forwards it into the AI Gateway controller's own
     namespace).
4. Every 2 s it reads the ConfigMap again; when its content changes (a new ``helm upgrade``) the server is
   restarted with the new configuration; when it disappears the server is stopped until it is back. A server
   that exits is started again after 5 s.

Nothing else is reachable from the namespace: no DNS. While the AI Gateway controller does not run
(``python -m testworld up ai-gateway``) the xDS translation waits on the extension server for ever
(``waitForReady`` gRPC calls, ``internal/extension/grpc.go``), ``failOpen`` or not, so what the xDS runner
publishes (EnvoyPatchPolicy status, xDS snapshots) does not appear; the Gateway API statuses (GatewayClass,
Gateway, routes, the other policies) come from the gateway-api runner and do.

The controller talks to the API server as ``system:envoy-gateway`` (group ``system:masters``), so the audit log
tells its writes from the collection's. Logs: ``<state>/logs/envoy-gateway.log`` (supervisor, certgen and
server); the supervisor's phase is in ``<state>/envoy-gateway.status.json``.

    python -m testworld.envoy_gateway run --kubeconfig K --state-dir D --status-file F --apiserver-port P \\
        --admin-port A [--extension-port E]
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

from testworld import controlplane
from testworld.base import State, TestWorldError, chart_version_problem, free_port, require_tools, stop_process
from testworld.gobuild import binary, build, pinned_version
from testworld.netns import (NamespacedProcess, WebhookForwarder, bridge, extension_server_port, http_get, listen,
                             namespaced_argv)
from testworld.supervision import (Kubernetes, run_parser, run_until_signalled, start_supervisor, status_ready,
                                   supervisor_status, write_status)

NAME = "envoy-gateway"
NAMESPACE = "envoy-gateway-system"
CONFIGMAP = "envoy-gateway-config"
CONTROLLER_DEPLOYMENT = "envoy-gateway"  # the chart's controller (a KWOK pod); its image tag names the release
CONFIG_KEY = "envoy-gateway.yaml"
CERTS_SECRET = "envoy-gateway"
TOPOLOGY_WEBHOOK = "envoy-gateway-topology-injector"
SUBJECT = "/O=system:masters/CN=system:envoy-gateway"
# Hard-coded in v1.9.0 (see the module docstring): the mount points inside the private mount namespace.
CERTS_MOUNT = Path("/certs")
WASM_MOUNT = Path("/var/lib/eg")
HEALTH_PORT = 8081  # internal/provider/kubernetes/kubernetes.go: healthProbeBindAddress ":8081"
DEFAULT_ADMIN_PORT = 19000  # api/v1alpha1: GatewayAdminPort
POLL_INTERVAL = 2.0
RESTART_DELAY = 5.0
# Phases in which `up` counts the supervisor as ready: waiting for the chart, or the server is ready.
READY_PHASES = ("waiting-for-config", "ready")


# --- pure functions (unit-tested) -------------------------------------------------------------------------------

def out_of_cluster_config(text: str, extension_port: int | None = None) -> str:
    """The chart's EnvoyGateway configuration with only what running out of cluster needs changed.

    Leader election is disabled (one process, no Lease); an admin address other than loopback is moved to
    127.0.0.1 (it is bridged from the host's loopback); with ``extension_port``, the extension manager's service
    (``fqdn``/``host``/``port``/``unix``) becomes ``ip: 127.0.0.1:<extension_port>`` (bridged to the host's
    loopback, where the AI Gateway extension server is served; ``tls`` and ``retry`` are kept). Everything else
    is kept as the chart rendered it.
    """
    import yaml  # pylint: disable=import-outside-toplevel
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise TestWorldError(f"{CONFIGMAP}/{CONFIG_KEY} is not an EnvoyGateway object: {text[:200]!r}")
    if doc.get("kind", "EnvoyGateway") != "EnvoyGateway":
        raise TestWorldError(f"{CONFIGMAP}/{CONFIG_KEY} holds a {doc.get('kind')}, not an EnvoyGateway")
    provider = doc.get("provider") or {}
    if provider.get("type", "Kubernetes") != "Kubernetes":
        raise TestWorldError(f"provider.type {provider.get('type')!r}: only the Kubernetes provider runs here")
    provider["type"] = "Kubernetes"
    kubernetes = provider.get("kubernetes") or {}
    election = kubernetes.get("leaderElection") or {}
    election["disable"] = True
    kubernetes["leaderElection"] = election
    provider["kubernetes"] = kubernetes
    doc["provider"] = provider
    address = ((doc.get("admin") or {}).get("address") or {})
    if address.get("host") not in (None, "", "127.0.0.1"):
        address["host"] = "127.0.0.1"
    service = (doc.get("extensionManager") or {}).get("service")
    if extension_port and isinstance(service, dict):
        for key in ("fqdn", "ip", "unix", "host", "port"):
            service.pop(key, None)
        service["ip"] = {"address": "127.0.0.1", "port": extension_port}
    return yaml.safe_dump(doc, sort_keys=False)


def extension_dialed(config_text: str) -> int | None:
    """The loopback port a written configuration's extension manager dials (``None``: no extension server)."""
    import yaml  # pylint: disable=import-outside-toplevel
    ip = (((yaml.safe_load(config_text) or {}).get("extensionManager") or {}).get("service") or {}).get("ip") or {}
    return int(ip["port"]) if ip.get("address") == "127.0.0.1" and ip.get("port") else None


def admin_port(config_text: str) -> int:
    """The admin server's port in an EnvoyGateway configuration (default 19000)."""
    import yaml  # pylint: disable=import-outside-toplevel
    doc = yaml.safe_load(config_text) or {}
    port = (((doc.get("admin") or {}).get("address") or {}).get("port"))
    return int(port) if port else DEFAULT_ADMIN_PORT


def cert_files(secret_data: dict) -> dict:
    """``{file name: bytes}`` for /certs from the ``data`` of the Secret certgen creates (base64 values)."""
    wanted = ("tls.crt", "tls.key", "ca.crt")
    missing = [key for key in wanted if not (secret_data or {}).get(key)]
    if missing:
        raise TestWorldError(f"Secret {CERTS_SECRET} lacks {', '.join(missing)}")
    return {key: base64.b64decode(secret_data[key]) for key in wanted}


def certgen_argv(envoy_gateway: str, topology_webhook_exists: bool) -> list[str]:
    """``envoy-gateway certgen`` as the chart's Job runs it."""
    argv = [envoy_gateway, "certgen"]
    if not topology_webhook_exists:
        argv.append("--disable-topology-injector")
    return argv


def server_argv(envoy_gateway: str, config: Path, certs: Path, wasm: Path) -> list[str]:
    """``envoy-gateway server`` in a private mount and network namespace, /certs and /var/lib/eg bind-mounted
    (:func:`testworld.netns.namespaced_argv`)."""
    return namespaced_argv([envoy_gateway, "server", "--config-path", str(config)],
                           {certs: CERTS_MOUNT, wasm: WASM_MOUNT})


def supervisor_ready(status_file: Path, started: float):
    """Readiness of the supervisor for ``up``: waiting for the chart's ConfigMap, or the server is ready."""
    return status_ready(status_file, started, READY_PHASES)


# --- the supervisor ---------------------------------------------------------------------------------------------

def _log(msg: str) -> None:
    print(f"envoy-gateway supervisor: {msg}", file=sys.stderr, flush=True)


class Supervisor:
    def __init__(self, args):
        self.args = args
        self.kube = Kubernetes(args.kubeconfig)
        self.version_problem = ""
        self.home = args.state_dir / NAME
        self.certs = self.home / "certs"
        self.wasm = self.home / "var-lib-eg"
        self.config = self.home / "envoy-gateway.yaml"
        self.binary = str(binary(NAME))
        self.env = dict(os.environ, KUBECONFIG=str(args.kubeconfig), ENVOY_GATEWAY_NAMESPACE=args.namespace)
        self.server = NamespacedProcess()
        self.config_text: str | None = None
        self.admin_port_inside = DEFAULT_ADMIN_PORT
        self.webhook = WebhookForwarder(self.server.dial, _log)
        self.stopping = False

    def status(self, phase: str, detail: str = "") -> None:
        if phase == "ready" and self.webhook.error:
            phase, detail = "webhook-failed", self.webhook.error
        write_status(self.args.status_file, phase, detail, webhooks=self.webhook.served(),
                     server_pid=self.server.pid())

    def refresh_webhook(self) -> None:
        """The topology injector's webhook at its Service's ClusterIP (:class:`testworld.netns.WebhookForwarder`)."""
        name = f"{TOPOLOGY_WEBHOOK}.{self.args.namespace}"
        kube = self.kube
        self.webhook.refresh(name, lambda: kube.read(kube.admission.read_mutating_webhook_configuration, name),
                             lambda ns, svc: kube.read(kube.core.read_namespaced_service, svc, ns))

    def read_configmap(self) -> str | None:
        """The chart's configuration, or None while the chart is missing or of another release than this binary
        (:func:`testworld.base.chart_version_problem`)."""
        kube = self.kube
        try:
            deployment = kube.api.sanitize_for_serialization(
                kube.apps.read_namespaced_deployment(CONTROLLER_DEPLOYMENT, self.args.namespace))
            problem = chart_version_problem(deployment, pinned_version("envoy-gateway"))
            if problem:
                if problem != self.version_problem:
                    _log(f"not starting: {problem}")
                self.version_problem = problem
                return None
            self.version_problem = ""
            cm = kube.core.read_namespaced_config_map(CONFIGMAP, self.args.namespace)
        except kube.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return (cm.data or {}).get(CONFIG_KEY)

    def ensure_certs(self) -> None:
        kube = self.kube
        try:
            secret = kube.core.read_namespaced_secret(CERTS_SECRET, self.args.namespace)
        except kube.ApiException as exc:
            if exc.status != 404:
                raise
            try:
                kube.admission.read_mutating_webhook_configuration(f"{TOPOLOGY_WEBHOOK}.{self.args.namespace}")
                webhook = True
            except kube.ApiException as exc2:
                if exc2.status != 404:
                    raise
                webhook = False
            argv = certgen_argv(self.binary, webhook)
            _log(f"Secret {CERTS_SECRET} missing: running {' '.join(argv[1:])}")
            proc = subprocess.run(argv, env=self.env, stdout=sys.stderr, stderr=subprocess.STDOUT, check=False)
            if proc.returncode != 0:
                raise TestWorldError(f"envoy-gateway certgen exited with {proc.returncode}")
            secret = kube.core.read_namespaced_secret(CERTS_SECRET, self.args.namespace)
        self.certs.mkdir(parents=True, exist_ok=True)
        os.chmod(self.certs, 0o700)
        for name, content in cert_files(secret.data).items():
            path = self.certs / name
            path.write_bytes(content)
            os.chmod(path, 0o600)

    def start_server(self, text: str) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.wasm.mkdir(parents=True, exist_ok=True)
        self.config.write_text(out_of_cluster_config(text, self.args.extension_port))
        self.admin_port_inside = admin_port(self.config.read_text())
        self.ensure_certs()
        # The API server and the extension server, at the same addresses inside the namespace as on the host's
        # loopback (the kubeconfig's, the configuration's).
        extension = extension_dialed(self.config.read_text())
        self.server.start(server_argv(self.binary, self.config, self.certs, self.wasm),
                          [self.args.apiserver_port, *([extension] if extension else [])], env=self.env)
        _log(f"server started (pid {self.server.proc.pid}, config {self.config})")

    def server_ready(self) -> bool:
        """``GET /readyz`` on the health probe port inside the namespace answers 200."""
        return http_get(lambda: self.server.dial(HEALTH_PORT), "/readyz")[0] == 200

    def serve_admin(self) -> None:
        """The admin console, bridged from the host's loopback into the namespace."""
        bridge(listen(self.args.admin_port), lambda: self.server.dial(self.admin_port_inside))

    def loop(self) -> None:
        self.serve_admin()
        exited_at = None
        self.status("waiting-for-config", f"no ConfigMap {self.args.namespace}/{CONFIGMAP} yet")
        while not self.stopping:
            try:
                self.refresh_webhook()
                text = self.read_configmap()
                if text != self.config_text:
                    self.server.stop()
                    self.config_text = text
                    if text is None:
                        _log(f"ConfigMap {self.args.namespace}/{CONFIGMAP} absent: waiting")
                        self.status("waiting-for-config", f"no ConfigMap {self.args.namespace}/{CONFIGMAP}")
                    else:
                        _log(f"starting the server with the configuration of {self.args.namespace}/{CONFIGMAP}")
                        self.status("starting")
                        self.start_server(text)
                        exited_at = None
                elif self.server.exited():
                    rc = self.server.proc.returncode
                    _log(f"server exited with {rc}; restarting in {RESTART_DELAY:.0f}s")
                    self.server.stop()
                    exited_at = time.monotonic()
                    self.status("exited", f"server exited with {rc}")
                elif self.server.proc is None and text is not None and exited_at is not None \
                        and time.monotonic() - exited_at >= RESTART_DELAY:
                    self.status("starting")
                    self.start_server(text)
                    exited_at = None
                elif self.server.proc is not None:
                    self.status("ready" if self.server_ready() else "starting")
                elif text is None:
                    self.status("waiting-for-config", f"no ConfigMap {self.args.namespace}/{CONFIGMAP}")
            except Exception as exc:  # noqa: BLE001 - logged and retried, as a controller would
                _log(f"pass failed: {exc}")
                self.status("failed", str(exc))
                self.config_text = None  # try again from the start on the next pass
                self.server.stop()
            time.sleep(POLL_INTERVAL)
        self.server.stop()
        self.webhook.close()


def run(argv=None) -> int:
    parser, p_run = run_parser(__doc__, "supervise envoy-gateway server (see the module docstring)")
    p_run.add_argument("--kubeconfig", type=Path, required=True)
    p_run.add_argument("--state-dir", type=Path, required=True)
    p_run.add_argument("--status-file", type=Path, required=True)
    p_run.add_argument("--apiserver-port", type=int, required=True)
    p_run.add_argument("--admin-port", type=int, required=True, help="host loopback port of the admin console")
    p_run.add_argument("--extension-port", type=int,
                       help="host loopback port of the extension server (default: the chart's service address)")
    p_run.add_argument("--namespace", default=NAMESPACE)
    supervisor = Supervisor(parser.parse_args(argv))
    return run_until_signalled(supervisor, supervisor.server.stop)


# --- the component ----------------------------------------------------------------------------------------------

def ensure_mount_points() -> None:
    """/certs and /var/lib/eg must exist for the bind mounts (empty directories, never written on the host)."""
    for path in (CERTS_MOUNT, WASM_MOUNT):
        path.mkdir(parents=True, exist_ok=True)
    require_tools(("unshare", "mount", "ip"), "the Envoy Gateway controller runs in private namespaces")


def up(state: State, timeout: float = 90.0) -> dict:
    build([NAME])
    ensure_mount_points()
    kubeconfig = controlplane.identity_kubeconfig(state, NAME, SUBJECT)
    current = state.load_component(NAME)
    admin = current.get("admin_port") or free_port()
    status_file = state.root / f"{NAME}.status.json"
    args = [f"--kubeconfig={kubeconfig}", f"--state-dir={state.root}", f"--status-file={status_file}",
            f"--apiserver-port={state.load()['port']}", f"--admin-port={admin}",
            f"--extension-port={extension_server_port(state)}"]
    return start_supervisor(state, NAME, "testworld.envoy_gateway", args, supervisor_ready(status_file, time.time()),
                            timeout, info={"admin_port": admin, "status_file": str(status_file)})


def down(state: State) -> None:
    stop_process(state, NAME)


def status(state: State) -> bool:
    return supervisor_status(state, NAME, supervisor_ready)


if __name__ == "__main__":
    sys.exit(run())
