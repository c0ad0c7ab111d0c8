"""Private network namespaces for the platform's controllers run out of cluster, and what makes one usable.

Envoy Gateway (:mod:`testworld.envoy_gateway`), the AI Gateway controller (:mod:`testworld.ai_gateway`) and
MetalLB's controller (:mod:`testworld.metallb`) bind hard-coded wildcard ports that no configuration moves to
127.0.0.1. So each runs in a network namespace of its own with only its loopback up (:func:`namespaced_argv`,
:class:`NamespacedProcess`): nothing it opens is reachable from this machine's interfaces, two test worlds never
collide on those ports, and it can dial nothing but what its supervisor bridges in. The supervisor:

- bridges the API server in (``127.0.0.1:<apiserver port>`` inside, the kubeconfig's address, forwarded to the same
  port on the host's loopback) and any other server the controller dials (:meth:`NamespacedProcess.start`);
- serves what others call on the host's loopback, each connection forwarded inside (:func:`listen`, :func:`bridge`,
  :meth:`NamespacedProcess.dial`), and probes HTTP endpoints inside (:func:`http_get`);
- serves the controller's admission webhooks where kube-apiserver calls them, at their Service's ClusterIP
  (:class:`WebhookForwarder`).

Sockets are created in the namespace by ``setns`` on the calling thread (:class:`NetNS`); running as root is
required. The supervisor process itself (signals, status file, stopping children) is :mod:`testworld.supervision`.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import shlex
import socket
import subprocess
import sys
import threading
import time

from testworld.base import State, TestWorldError, free_port
from testworld.supervision import LIBC, die_with_parent, stop_child

CLONE_NEWNET = 0x40000000
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")  # the only addresses the test world serves or dials
HTTP_HEAD_LIMIT = 256  # what http_get reads of a response when only its status matters
HTTP_BODY_LIMIT = 4 << 20  # what http_get reads of a response at the most


# --- pure functions (unit-tested) -------------------------------------------------------------------------------

def namespaced_argv(argv: list[str], mounts: dict | None = None) -> list[str]:
    """``argv`` in a private network namespace with only its loopback up; with ``mounts`` (``{host directory:
    mount point}``) also in a private mount namespace in which each directory is bind-mounted on its mount point.

    The shell waits for a line on stdin (the supervisor has bridged the API server into the namespace) before it
    execs ``argv``: the pid stays the same from ``unshare`` to the controller.
    """
    steps = ["ip link set lo up"]
    steps += [f"mount --bind {shlex.quote(str(source))} {shlex.quote(str(target))}"
              for source, target in (mounts or {}).items()]
    steps += ["read -r _", "exec " + " ".join(shlex.quote(str(a)) for a in argv)]
    unshare = ["unshare", "--mount", "--net", "--propagation", "private"] if mounts else ["unshare", "--net"]
    return [*unshare, "sh", "-c", " && ".join(steps)]


def http_status(response_head: bytes) -> int | None:
    """The status code of an HTTP response's first line (``None`` if it is not one)."""
    parts = response_head.split(b"\r\n", 1)[0].split()
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


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


# --- the component ----------------------------------------------------------------------------------------------

def extension_server_port(state: State) -> int:
    """The host loopback port of the AI Gateway extension server in this state directory (picked once, recorded
    in ``<state>/extension-server.port``): Envoy Gateway's supervisor bridges it into Envoy Gateway's namespace
    (:mod:`testworld.envoy_gateway`), the AI Gateway controller's supervisor serves it from the controller's
    (:mod:`testworld.ai_gateway`)."""
    path = state.root / "extension-server.port"
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        port = free_port()
        state.root.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{port}\n")
        return port


# --- sockets and namespaces -------------------------------------------------------------------------------------

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


def serving_pods(pods: list[dict]) -> tuple[list[tuple[str, dict]], list[str]]:
    """``([("<ns>/<pod>", pod), ...], problems)``: the pods a server may stand behind -- Running, not being deleted,
    with a pod IP in :data:`LOOPBACK` (any other IP is a problem: the test world never listens on or dials it)."""
    found, problems = [], []
    for pod in pods:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        if meta.get("deletionTimestamp") or status.get("phase") != "Running" or not status.get("podIP"):
            continue
        if ipaddress.ip_address(status["podIP"]) not in LOOPBACK:
            problems.append(f"{key}: pod IP {status['podIP']} is not in {LOOPBACK}; not served")
            continue
        found.append((key, pod))
    return found, problems


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


def _accept(listener: socket.socket, dial) -> None:
    """Accept on ``listener`` until it is closed; connect each connection to ``dial()`` and copy bytes both ways."""
    def serve(conn):
        try:
            upstream = dial()
        except OSError:
            conn.close()
            return
        for sock in (conn, upstream):  # forward each write at once, as a proxy must (no Nagle delay added)
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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


def bridge(listener: socket.socket, dial) -> None:
    """Forward each connection accepted on ``listener`` to ``dial()`` (a daemon thread accepts until
    :func:`close_listener`)."""
    threading.Thread(target=_accept, args=(listener, dial), daemon=True).start()


def listen(port: int, host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(64)
    return sock


def close_listener(listener: socket.socket) -> None:
    """Close a listener that a :func:`bridge` thread accepts on (``shutdown`` wakes its ``accept``; ``close``
    alone would leave the socket listening for that thread)."""
    try:
        listener.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    listener.close()


def http_get(dial, path: str, body: bool = False) -> tuple[int | None, bytes]:
    """``GET path`` (HTTP/1.0) on the connection ``dial()`` opens: ``(status code, body)`` (the body only if wanted).

    The status is ``None`` when nothing answers (no connection, an error on it, no HTTP response). Only the
    response's first line is read unless ``body`` is wanted (then the response up to its end, at most
    :data:`HTTP_BODY_LIMIT` bytes).
    """
    try:
        sock = dial()
    except OSError:
        return None, b""
    limit, chunk_size = (HTTP_BODY_LIMIT, 65536) if body else (HTTP_HEAD_LIMIT, HTTP_HEAD_LIMIT)
    with sock:
        try:
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
            data = b""
            while len(data) < limit and (body or b"\r\n" not in data):
                chunk = sock.recv(chunk_size)
                if not chunk:
                    break
                data += chunk
        except OSError:
            return None, b""
    head, _sep, rest = data.partition(b"\r\n\r\n")
    return http_status(head), rest if body else b""


# --- the controller in its namespace ----------------------------------------------------------------------------

class NamespacedProcess:
    """A controller in a private network namespace (``argv`` from :func:`namespaced_argv`), a child of the
    supervisor that dies with it (:func:`testworld.supervision.die_with_parent`); its output goes to the
    supervisor's log."""

    def __init__(self):
        self.netns = NetNS()
        self.proc: subprocess.Popen | None = None
        self.listeners: list[socket.socket] = []

    def start(self, argv: list[str], ports_in, env: dict | None = None) -> None:
        """Start the controller; bridge each of ``ports_in`` into its namespace (``127.0.0.1:<port>`` inside
        forwarded to the same port on the host's loopback: the API server, at the kubeconfig's address, and any
        other server it dials), then let the shell exec the controller."""
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            argv, env=env, stdin=subprocess.PIPE, stdout=sys.stderr, stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent)
        try:
            self.netns.attach(self.proc.pid)
            for port in ports_in:
                listener = self.netns.run(lambda port=port: listen(port))
                self.listeners.append(listener)
                bridge(listener, lambda port=port: socket.create_connection(("127.0.0.1", port), timeout=10))
            self.proc.stdin.write(b"go\n")
            self.proc.stdin.close()
        except Exception:
            self.stop()
            raise

    def pid(self) -> int | None:
        """The controller's pid while it runs."""
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def exited(self) -> bool:
        """The controller was started and has exited (its ``proc.returncode`` says how)."""
        return self.proc is not None and self.proc.poll() is not None

    def stop(self) -> None:
        for listener in self.listeners:
            close_listener(listener)
        self.listeners = []
        stop_child(self.proc)
        self.proc = None
        self.netns.close()

    def dial(self, port: int) -> socket.socket:
        """A connection to ``127.0.0.1:<port>`` inside the namespace."""
        return self.netns.run(lambda: socket.create_connection(("127.0.0.1", port), timeout=2))


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
            close_listener(self.listeners.pop(key))
            self.routes.pop(key, None)
            self.log(f"webhook: {key[0]}:{key[1]} no longer served")
        for key, target in routes.items():
            if key in self.listeners:
                if self.routes.get(key) != target:
                    self.log(f"webhook: {key[0]}:{key[1]} now forwarded to port {target} in the namespace")
                self.routes[key] = target
                continue
            try:
                listener = listen(key[1], key[0])
            except OSError as exc:
                errors.append(f"{configuration_name}: cannot listen on {key[0]}:{key[1]}: {exc}")
                continue
            self.routes[key] = target
            self.listeners[key] = listener
            bridge(listener, lambda key=key: self._dial(key))
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
            close_listener(listener)
        self.listeners.clear()
        self.routes.clear()
