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
     connection to ``127.0.0.1:<targetPort>`` inside the namespace (:class:`WebhookForwarder`, which
     :mod:`testworld.ai_gateway` uses for its pod mutator too); a changed Service or configuration is rebound. A
     ClusterIP outside 127.0.0.0/8 (or a port already taken) is not served: logged, and the phase is
     ``webhook-failed`` instead of ``ready``.
   - Extension server: the chart's ``extensionManager.service`` (the collection's: the AI Gateway controller at
     ``ai-gateway-controller.<ns>.svc.cluster.local:1063``) names a Service nothing resolves here. The written
     configuration points it at ``ip: 127.0.0.1:<extension port>`` instead (:func:`out_of_cluster_config`; the
     port is :func:`extension_server_port`, one per state directory) and the supervisor forwards that port inside
     the namespace to the same port on the host's loopback, where :mod:`testworld.ai_gateway` serves the real AI
     Gateway extension server (its supervisor forwards it into the AI Gateway controller's own namespace).
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

import argparse
import base64
import ctypes
import ipaddress
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from testworld import controlplane
from testworld.base import (State, TestWorldError, chart_version_problem, free_port, process_status, start_process,
                            stop_process)
from testworld.gobuild import binary, build, pinned_version

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
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")  # the only addresses the test world serves or dials
DEFAULT_ADMIN_PORT = 19000  # api/v1alpha1: GatewayAdminPort
POLL_INTERVAL = 2.0
RESTART_DELAY = 5.0
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
# Phases in which `up` counts the supervisor as ready: waiting for the chart, or the server is ready.
READY_PHASES = ("waiting-for-config", "ready")
LIBC = ctypes.CDLL(None, use_errno=True)


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
    """``envoy-gateway server`` in a private mount and network namespace, /certs and /var/lib/eg bind-mounted.

    The shell waits for a line on stdin (the supervisor has bridged the API server into the namespace) before it
    execs the server: the pid stays the same from ``unshare`` to ``envoy-gateway``.
    """
    script = " && ".join([
        "ip link set lo up",
        f"mount --bind {shlex.quote(str(certs))} {CERTS_MOUNT}",
        f"mount --bind {shlex.quote(str(wasm))} {WASM_MOUNT}",
        "read -r _",
        f"exec {shlex.quote(envoy_gateway)} server --config-path {shlex.quote(str(config))}",
    ])
    return ["unshare", "--mount", "--net", "--propagation", "private", "sh", "-c", script]


def webhook_services(configuration: dict) -> list[tuple[str, str, int]]:
    """``(namespace, name, port)`` of each Service a MutatingWebhookConfiguration's webhooks call (``port`` 443
    when unset, as kube-apiserver defaults it); webhooks with a ``url`` are left out (nothing to serve here)."""
    refs = []
    for webhook in (configuration or {}).get("webhooks") or []:
        service = (webhook.get("clientConfig") or {}).get("service")
        if not service:
            continue
        ref = (service.get("namespace"), service.get("name"), int(service.get("port") or 443))
        if ref not in refs:
            refs.append(ref)
    return refs


def webhook_endpoint(service: dict, port: int, container_ports: dict | None = None) -> tuple[str, int, int]:
    """``(ClusterIP, port, targetPort)`` of a webhook's Service: kube-apiserver dials ``ClusterIP:port`` (its
    default service resolver), kube-proxy would forward that to ``targetPort`` of the controller's Pod (a named
    targetPort is looked up in ``container_ports``, ``{name: containerPort}``). A Service without a ClusterIP, a
    ClusterIP outside 127.0.0.0/8 (the test world binds and dials nothing else) or no TCP port ``port`` is an
    error."""
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    where = f"Service {meta.get('namespace')}/{meta.get('name')}"
    cluster_ip = spec.get("clusterIP")
    if not cluster_ip or cluster_ip == "None":
        raise TestWorldError(f"{where} has no ClusterIP (type {spec.get('type')}, clusterIP {cluster_ip!r}): "
                             "kube-apiserver cannot call a webhook through it")
    try:
        address = ipaddress.ip_address(cluster_ip)
    except ValueError as exc:
        raise TestWorldError(f"{where}: ClusterIP {cluster_ip!r} is not an IP address") from exc
    if address.version != 4 or address not in LOOPBACK:
        raise TestWorldError(f"{where}: ClusterIP {cluster_ip} is outside {LOOPBACK}; the test world listens on "
                             "loopback addresses only, so the webhook is not served")
    for item in spec.get("ports") or []:
        if int(item.get("port") or 0) != port or (item.get("protocol") or "TCP") != "TCP":
            continue
        target = item.get("targetPort") or port
        if isinstance(target, str) and not target.isdigit():
            if target not in (container_ports or {}):
                raise TestWorldError(f"{where}: targetPort {target!r} names no port of the controller's container")
            target = (container_ports or {})[target]
        return cluster_ip, port, int(target)
    raise TestWorldError(f"{where} has no TCP port {port} (the webhook's clientConfig.service.port)")


def http_status(response_head: bytes) -> int | None:
    """The status code of an HTTP response's first line (``None`` if it is not one)."""
    parts = response_head.split(b"\r\n", 1)[0].split()
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def supervisor_ready(status_file: Path, started: float):
    """Readiness of the supervisor for ``up``: waiting for the chart's ConfigMap, or the server is ready."""
    def check():
        try:
            status = json.loads(status_file.read_text())
        except (OSError, ValueError):
            return False, "the supervisor has written no status yet"
        fresh = status.get("updated_at", 0) >= started
        return fresh and status.get("phase") in READY_PHASES, f"phase {status.get('phase')}: {status.get('detail', '')}"
    return check


# --- the supervisor ---------------------------------------------------------------------------------------------

def _log(msg: str) -> None:
    print(f"envoy-gateway supervisor: {msg}", file=sys.stderr, flush=True)


class NetNS:
    """Sockets created in another process's network namespace (``setns`` on the calling thread, and back)."""

    def __init__(self):
        self._home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        self._lock = threading.Lock()
        self.fd = None

    def attach(self, pid: int, timeout: float = 10.0) -> None:
        """Wait until ``pid`` has its own network namespace, then keep a handle on it."""
        home = os.stat("/proc/thread-self/ns/net").st_ino
        deadline = time.monotonic() + timeout
        while os.stat(f"/proc/{pid}/ns/net").st_ino == home:
            if time.monotonic() > deadline:
                raise TestWorldError(f"pid {pid} did not enter a network namespace of its own")
            time.sleep(0.02)
        self.close()
        self.fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _setns(self, fd: int) -> None:
        if LIBC.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns: {os.strerror(err)}")

    def run(self, fn):
        """``fn()`` with the calling thread in the namespace (sockets it creates stay there)."""
        if self.fd is None:
            raise OSError("no network namespace attached")
        with self._lock:
            self._setns(self.fd)
            try:
                return fn()
            finally:
                self._setns(self._home)


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                sock.shutdown(how)
            except OSError:
                pass


def _bridge(listener: socket.socket, dial) -> None:
    """Accept on ``listener``; connect each connection to ``dial()`` and copy bytes both ways."""
    def serve(conn):
        try:
            upstream = dial()
        except OSError:
            conn.close()
            return
        back = threading.Thread(target=_pump, args=(upstream, conn), daemon=True)
        back.start()
        _pump(conn, upstream)
        back.join()
        conn.close()
        upstream.close()

    while True:
        try:
            conn, _peer = listener.accept()
        except OSError:
            return  # listener closed
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def _listen(port: int, host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(64)
    return sock


def _close(listener: socket.socket) -> None:
    """Close a listener that a :func:`_bridge` thread accepts on (``shutdown`` wakes its ``accept``; ``close``
    alone would leave the socket listening for that thread)."""
    try:
        listener.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    listener.close()


class WebhookForwarder:
    """A controller's admission webhooks where kube-apiserver calls them: ``<ClusterIP>:<port>`` of the webhook's
    Service, bound on the host (a loopback address: Linux routes all of 127.0.0.0/8 to ``lo``, no address to
    add), each connection forwarded to ``127.0.0.1:<targetPort>`` in the controller's network namespace
    (``dial_inside(port)``; while no controller runs the connection is closed, as a Service without endpoints
    would refuse it). :meth:`refresh` (every supervisor pass) re-reads the configuration and its Services and
    rebinds what changed; what cannot be served is logged once and kept in :attr:`error`."""

    def __init__(self, dial_inside, log):
        self.dial_inside = dial_inside
        self.log = log
        self.routes: dict[tuple[str, int], int] = {}  # (ClusterIP, port) -> targetPort inside the namespace
        self.listeners: dict[tuple[str, int], socket.socket] = {}
        self.error: str | None = None

    def _dial(self, key: tuple[str, int]) -> socket.socket:
        target = self.routes.get(key)
        if target is None:
            raise OSError(f"{key[0]}:{key[1]} is no longer served")
        return self.dial_inside(target)

    def refresh(self, configuration_name: str, read_configuration, read_service,
                container_ports: dict | None = None) -> None:
        """Serve the webhooks of ``read_configuration()`` (a MutatingWebhookConfiguration as a dict, ``None`` if
        absent); ``read_service(namespace, name)`` gives a Service as a dict, ``None`` if absent."""
        routes, errors = {}, []
        try:
            configuration = read_configuration()
            for namespace, name, port in webhook_services(configuration or {}):
                service = read_service(namespace, name)
                if service is None:
                    errors.append(f"{configuration_name}: no Service {namespace}/{name}")
                    continue
                try:
                    cluster_ip, port, target = webhook_endpoint(service, port, container_ports)
                except TestWorldError as exc:
                    errors.append(f"{configuration_name}: {exc}")
                    continue
                routes[(cluster_ip, port)] = target
        except Exception as exc:  # noqa: BLE001 - the API server unreachable: keep what is served
            routes = dict(self.routes)
            errors.append(f"reading {configuration_name}: {exc}")
        for key in [k for k in self.listeners if k not in routes]:
            _close(self.listeners.pop(key))
            self.routes.pop(key, None)
            self.log(f"webhook: {key[0]}:{key[1]} no longer served")
        for key, target in routes.items():
            if key in self.listeners:
                if self.routes.get(key) != target:
                    self.log(f"webhook: {key[0]}:{key[1]} now forwarded to port {target} in the namespace")
                self.routes[key] = target
                continue
            try:
                listener = _listen(key[1], key[0])
            except OSError as exc:
                errors.append(f"{configuration_name}: cannot listen on {key[0]}:{key[1]}: {exc}")
                continue
            self.routes[key] = target
            self.listeners[key] = listener
            threading.Thread(target=_bridge, args=(listener, lambda key=key: self._dial(key)), daemon=True).start()
            self.log(f"webhook: serving {key[0]}:{key[1]} (the Service's ClusterIP), forwarded to port {target} in "
                     "the namespace")
        error = "; ".join(errors) or None
        if error != self.error:
            self.log(f"webhook not served: {error}" if error else "webhook: every webhook served")
        self.error = error

    def served(self) -> list[str]:
        return [f"{ip}:{port}->{self.routes[(ip, port)]}" for ip, port in self.listeners]

    def close(self) -> None:
        for listener in self.listeners.values():
            _close(listener)
        self.listeners.clear()
        self.routes.clear()


class Supervisor:
    def __init__(self, args):
        from kubernetes import client, config  # pylint: disable=import-outside-toplevel
        self.args = args
        api = config.new_client_from_config(config_file=str(args.kubeconfig))
        self.api = api
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.admission = client.AdmissionregistrationV1Api(api)
        self.ApiException = client.exceptions.ApiException  # pylint: disable=invalid-name
        self.version_problem = ""
        self.home = args.state_dir / NAME
        self.certs = self.home / "certs"
        self.wasm = self.home / "var-lib-eg"
        self.config = self.home / "envoy-gateway.yaml"
        self.binary = str(binary(NAME))
        self.env = dict(os.environ, KUBECONFIG=str(args.kubeconfig), ENVOY_GATEWAY_NAMESPACE=args.namespace)
        self.netns = NetNS()
        self.proc: subprocess.Popen | None = None
        self.api_listener: socket.socket | None = None
        self.extension_listener: socket.socket | None = None
        self.config_text: str | None = None
        self.admin_port_inside = DEFAULT_ADMIN_PORT
        self.webhook = WebhookForwarder(self.dial_inside, _log)
        self.stopping = False

    def status(self, phase: str, detail: str = "") -> None:
        if phase == "ready" and self.webhook.error:
            phase, detail = "webhook-failed", self.webhook.error
        self.args.status_file.write_text(json.dumps({
            "phase": phase, "detail": detail, "updated_at": time.time(), "webhooks": self.webhook.served(),
            "server_pid": self.proc.pid if self.proc and self.proc.poll() is None else None}))

    def _read(self, fn, *args):
        """An object as a dict (``None`` if it does not exist)."""
        try:
            return self.api.sanitize_for_serialization(fn(*args))
        except self.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def refresh_webhook(self) -> None:
        """The topology injector's webhook at its Service's ClusterIP (:class:`WebhookForwarder`)."""
        name = f"{TOPOLOGY_WEBHOOK}.{self.args.namespace}"
        self.webhook.refresh(name, lambda: self._read(self.admission.read_mutating_webhook_configuration, name),
                             lambda ns, svc: self._read(self.core.read_namespaced_service, svc, ns))

    def read_configmap(self) -> str | None:
        """The chart's configuration, or None while the chart is missing or of another release than this binary
        (:func:`testworld.base.chart_version_problem`)."""
        try:
            deployment = self.api.sanitize_for_serialization(
                self.apps.read_namespaced_deployment(CONTROLLER_DEPLOYMENT, self.args.namespace))
            problem = chart_version_problem(deployment, pinned_version("envoy-gateway"))
            if problem:
                if problem != self.version_problem:
                    _log(f"not starting: {problem}")
                self.version_problem = problem
                return None
            self.version_problem = ""
            cm = self.core.read_namespaced_config_map(CONFIGMAP, self.args.namespace)
        except self.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return (cm.data or {}).get(CONFIG_KEY)

    def ensure_certs(self) -> None:
        try:
            secret = self.core.read_namespaced_secret(CERTS_SECRET, self.args.namespace)
        except self.ApiException as exc:
            if exc.status != 404:
                raise
            try:
                self.admission.read_mutating_webhook_configuration(f"{TOPOLOGY_WEBHOOK}.{self.args.namespace}")
                webhook = True
            except self.ApiException as exc2:
                if exc2.status != 404:
                    raise
                webhook = False
            argv = certgen_argv(self.binary, webhook)
            _log(f"Secret {CERTS_SECRET} missing: running {' '.join(argv[1:])}")
            proc = subprocess.run(argv, env=self.env, stdout=sys.stderr, stderr=subprocess.STDOUT, check=False)
            if proc.returncode != 0:
                raise TestWorldError(f"envoy-gateway certgen exited with {proc.returncode}")
            secret = self.core.read_namespaced_secret(CERTS_SECRET, self.args.namespace)
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
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            server_argv(self.binary, self.config, self.certs, self.wasm), env=self.env, stdin=subprocess.PIPE,
            stdout=sys.stderr, stderr=subprocess.STDOUT,
            # Killed with the supervisor, whatever kills it (the signal survives the exec of the server).
            preexec_fn=lambda: LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL))
        try:
            self.netns.attach(self.proc.pid)
            # The API server, at the same address inside the namespace as on the host (the kubeconfig's).
            self.api_listener = self.netns.run(lambda: _listen(self.args.apiserver_port))
            threading.Thread(target=_bridge, args=(self.api_listener, lambda: socket.create_connection(
                ("127.0.0.1", self.args.apiserver_port), timeout=10)), daemon=True).start()
            # The extension server, at the same address inside the namespace as on the host's loopback.
            extension = extension_dialed(self.config.read_text())
            if extension:
                self.extension_listener = self.netns.run(lambda: _listen(extension))
                threading.Thread(target=_bridge, args=(self.extension_listener, lambda: socket.create_connection(
                    ("127.0.0.1", extension), timeout=10)), daemon=True).start()
            self.proc.stdin.write(b"go\n")
            self.proc.stdin.close()
        except Exception:
            self.stop_server()
            raise
        _log(f"server started (pid {self.proc.pid}, config {self.config})")

    def stop_server(self) -> None:
        for listener in (self.api_listener, self.extension_listener):
            if listener is not None:
                _close(listener)
        self.api_listener = self.extension_listener = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.netns.close()

    def dial_inside(self, port: int) -> socket.socket:
        return self.netns.run(lambda: socket.create_connection(("127.0.0.1", port), timeout=2))

    def server_ready(self) -> bool:
        """``GET /readyz`` on the health probe port inside the namespace answers 200."""
        try:
            sock = self.dial_inside(HEALTH_PORT)
        except OSError:
            return False
        with sock:
            try:
                sock.sendall(b"GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n")
                head = b""
                while b"\r\n" not in head and len(head) < 256:
                    chunk = sock.recv(256)
                    if not chunk:
                        break
                    head += chunk
            except OSError:
                return False
        return http_status(head) == 200

    def serve_admin(self) -> None:
        """The admin console, bridged from the host's loopback into the namespace."""
        listener = _listen(self.args.admin_port)
        threading.Thread(target=_bridge, args=(listener, lambda: self.dial_inside(self.admin_port_inside)),
                         daemon=True).start()

    def loop(self) -> None:
        self.serve_admin()
        exited_at = None
        self.status("waiting-for-config", f"no ConfigMap {self.args.namespace}/{CONFIGMAP} yet")
        while not self.stopping:
            try:
                self.refresh_webhook()
                text = self.read_configmap()
                if text != self.config_text:
                    self.stop_server()
                    self.config_text = text
                    if text is None:
                        _log(f"ConfigMap {self.args.namespace}/{CONFIGMAP} absent: waiting")
                        self.status("waiting-for-config", f"no ConfigMap {self.args.namespace}/{CONFIGMAP}")
                    else:
                        _log(f"starting the server with the configuration of {self.args.namespace}/{CONFIGMAP}")
                        self.status("starting")
                        self.start_server(text)
                        exited_at = None
                elif self.proc is not None and self.proc.poll() is not None:
                    rc = self.proc.returncode
                    _log(f"server exited with {rc}; restarting in {RESTART_DELAY:.0f}s")
                    self.stop_server()
                    exited_at = time.monotonic()
                    self.status("exited", f"server exited with {rc}")
                elif self.proc is None and text is not None and exited_at is not None \
                        and time.monotonic() - exited_at >= RESTART_DELAY:
                    self.status("starting")
                    self.start_server(text)
                    exited_at = None
                elif self.proc is not None:
                    self.status("ready" if self.server_ready() else "starting")
                elif text is None:
                    self.status("waiting-for-config", f"no ConfigMap {self.args.namespace}/{CONFIGMAP}")
            except Exception as exc:  # noqa: BLE001 - logged and retried, as a controller would
                _log(f"pass failed: {exc}")
                self.status("failed", str(exc))
                self.config_text = None  # try again from the start on the next pass
                self.stop_server()
            time.sleep(POLL_INTERVAL)
        self.stop_server()
        self.webhook.close()


def run(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="supervise envoy-gateway server (see the module docstring)")
    p_run.add_argument("--kubeconfig", type=Path, required=True)
    p_run.add_argument("--state-dir", type=Path, required=True)
    p_run.add_argument("--status-file", type=Path, required=True)
    p_run.add_argument("--apiserver-port", type=int, required=True)
    p_run.add_argument("--admin-port", type=int, required=True, help="host loopback port of the admin console")
    p_run.add_argument("--extension-port", type=int,
                       help="host loopback port of the extension server (default: the chart's service address)")
    p_run.add_argument("--namespace", default=NAMESPACE)
    args = parser.parse_args(argv)
    supervisor = Supervisor(args)

    def on_term(_signum, _frame):
        supervisor.stopping = True
        supervisor.stop_server()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    supervisor.loop()
    return 0


# --- the component ----------------------------------------------------------------------------------------------

def extension_server_port(state: State) -> int:
    """The host loopback port of the AI Gateway extension server in this state directory (picked once, recorded
    in ``<state>/extension-server.port``): Envoy Gateway dials it, :mod:`testworld.ai_gateway` serves it."""
    path = state.root / "extension-server.port"
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        port = free_port()
        state.root.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{port}\n")
        return port


def ensure_mount_points() -> None:
    """/certs and /var/lib/eg must exist for the bind mounts (empty directories, never written on the host)."""
    for path in (CERTS_MOUNT, WASM_MOUNT):
        path.mkdir(parents=True, exist_ok=True)
    for tool in ("unshare", "mount", "ip"):
        if not shutil.which(tool):
            raise TestWorldError(f"`{tool}` is missing: the Envoy Gateway controller runs in private namespaces")


def up(state: State, timeout: float = 90.0) -> dict:
    build([NAME])
    ensure_mount_points()
    kubeconfig = controlplane.identity_kubeconfig(state, NAME, SUBJECT)
    current = state.load_component(NAME)
    admin = current.get("admin_port") or free_port()
    status_file = state.root / f"{NAME}.status.json"
    argv = [sys.executable, "-m", "testworld.envoy_gateway", "run", f"--kubeconfig={kubeconfig}",
            f"--state-dir={state.root}", f"--status-file={status_file}",
            f"--apiserver-port={state.load()['port']}", f"--admin-port={admin}",
            f"--extension-port={extension_server_port(state)}"]
    return start_process(state, NAME, argv, supervisor_ready(status_file, time.time()), timeout,
                         binary_name=Path(sys.executable).name,
                         info={"admin_port": admin, "status_file": str(status_file)})


def down(state: State) -> None:
    stop_process(state, NAME)


def status(state: State) -> bool:
    current = state.load_component(NAME)
    status_file = current.get("status_file")
    return process_status(state, NAME, supervisor_ready(Path(status_file), 0) if status_file else None)


if __name__ == "__main__":
    sys.exit(run())
