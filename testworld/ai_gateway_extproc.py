"""Envoy AI Gateway v1.0.0's data plane, the real ext_proc server (``cmd/extproc``, built from ``go/ai_gateway``, the
module of the controller :mod:`testworld.ai_gateway` runs), one per Gateway, as the sidecar in the Gateway's Envoy
pods would run it -- configured only from the cluster:

- **Its arguments** are the ``ai-gateway-extproc`` container's, read from an Envoy pod of the Gateway (Envoy Gateway's
  labels ``gateway.envoyproxy.io/owning-gateway-name`` / ``-namespace``); the AI Gateway controller's pod webhook
  injected that container (a native sidecar: an init container with ``restartPolicy: Always``) with the flags the
  collection's ai-gateway-helm values gave the controller, e.g. ``-metricsRequestHeaderAttributes``. Only what
  running out of a pod needs changes (:func:`extproc_argv`): ``-configPath`` points at the local copy of the filter
  config and ``-extProcAddr`` is ``127.0.0.1:1063`` instead of the pod's Unix socket.
- **Its configuration** is the filter config the controller writes for the Gateway: the Secret
  ``<gateway>-<gateway namespace>`` (key ``filter-config.yaml``) in the Envoy pods' namespace, copied to
  ``<work dir>/<namespace>/<gateway>/filter-config.yaml`` atomically whenever it changes (the extproc polls the file's
  mtime every 5 s and reloads it, as it does with the mounted Secret).

Network: the extproc binds its admin server (``/metrics``, ``/health``) on every interface (``-adminPort``, ``:1064``),
so it runs in a private network namespace (:mod:`testworld.netns`) and dials nothing; its ext_proc gRPC port and admin
port are bridged to free ports on 127.0.0.1 (``ext_proc`` and ``admin`` in the status file). pprof is off
(``DISABLE_PPROF``). Ready when ``/health`` answers 200 (the extproc's own gRPC health check).
Source: ``docs/dev/ai-gateway-extproc-v1.0.0.md`` (flags, filter config, the ext_proc conversation).
Logs: ``<state>/logs/ai-gateway-extproc.log``.

    python -m testworld.ai_gateway_extproc run --kubeconfig K --status-file F --work-dir D
"""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path

from testworld.base import State, free_port, stop_process
from testworld.gobuild import binary
from testworld.netns import NamespacedProcess, bridge, close_listener, http_get, listen, namespaced_argv
from testworld.supervision import (Kubernetes, reconcile_until_stopped, reconciler_parser, reconciler_ready,
                                   run_until_signalled, supervisor_status, up_reconciler)

NAME = "ai-gateway-extproc"
BINARY = "ai-gateway-extproc"
SUBJECT = "/O=system:masters/CN=system:testworld:ai-gateway-extproc"
CONTAINER = "ai-gateway-extproc"  # internal/controller/gateway_mutator.go: "ai-gateway-" + "extproc"
CONFIG_KEY = "filter-config.yaml"  # internal/controller/gateway.go
ENVOY_PODS = "app.kubernetes.io/managed-by=envoy-gateway"
OWNER_NAME = "gateway.envoyproxy.io/owning-gateway-name"
OWNER_NAMESPACE = "gateway.envoyproxy.io/owning-gateway-namespace"
PORTS = {"ext_proc": 1063, "admin": 1064}  # inside its namespace: cmd/extproc's defaults
POLL_INTERVAL = 2.0


# --- pure functions (unit-tested) -------------------------------------------------------------------------------

def sidecars(pods: list[dict]) -> dict:
    """``{"<gateway namespace>/<gateway>": (pod namespace, container)}``: the ext_proc container of one Envoy pod per
    Gateway (init containers first: the sidecar is a native one on Kubernetes >= 1.33)."""
    found = {}
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        labels = pod["metadata"].get("labels") or {}
        if OWNER_NAME not in labels or OWNER_NAMESPACE not in labels:
            continue
        spec = pod.get("spec") or {}
        for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            if container.get("name") == CONTAINER:
                found.setdefault(f"{labels[OWNER_NAMESPACE]}/{labels[OWNER_NAME]}",
                                 (pod["metadata"]["namespace"], container))
                break
    return found


def config_secret_name(gateway_key: str) -> str:
    """The filter config's Secret of a Gateway ``<ns>/<name>``: ``<name>-<ns>`` (FilterConfigSecretPerGatewayName)."""
    namespace, name = gateway_key.split("/", 1)
    return f"{name}-{namespace}"


def config_text(secret: dict | None) -> str | None:
    data = ((secret or {}).get("data") or {}).get(CONFIG_KEY)
    return base64.b64decode(data).decode() if data is not None else None


def extproc_argv(extproc: str, container: dict, config_file: Path) -> list[str]:
    """The container's command line with ``-configPath`` and ``-extProcAddr`` moved out of the pod (Go flags: one
    dash or two, ``-f value`` or ``-f=value``); every other flag as the controller injected it."""
    replaced = {"configPath": str(config_file), "extProcAddr": f"127.0.0.1:{PORTS['ext_proc']}",
                "adminPort": str(PORTS["admin"])}
    args = list(container.get("args") or [])
    out, index = [], 0
    while index < len(args):
        arg = args[index]
        name = arg.lstrip("-").split("=", 1)[0]
        inline = "=" in arg
        if arg.startswith("-") and name in replaced:
            index += 1 if inline else 2
            continue
        out.append(arg)
        index += 1
    for name, value in replaced.items():
        out += [f"-{name}", value]
    return [extproc] + out


def _log(msg: str) -> None:
    print(f"ai-gateway-extproc supervisor: {msg}", file=sys.stderr, flush=True)


class ExtProc:
    """One Gateway's extproc in its network namespace and its bridged host ports."""

    def __init__(self, key: str, argv: list[str]):
        self.key, self.argv = key, argv
        self.process = NamespacedProcess()
        self.process.start(namespaced_argv(argv), [], env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                                           "DISABLE_PPROF": "1"})
        self.ports, self.listeners = {}, []
        try:
            for name, inside in PORTS.items():
                self.ports[name] = free_port()
                listener = listen(self.ports[name])
                self.listeners.append(listener)
                bridge(listener, lambda inside=inside: self.process.dial(inside))
        except OSError:
            self.stop()
            raise
        _log(f"{key}: extproc started (pid {self.process.proc.pid}), ext_proc on 127.0.0.1:{self.ports['ext_proc']}: "
             f"{' '.join(argv[1:])}")

    def healthy(self) -> bool:
        code, _body = http_get(lambda: self.process.dial(PORTS["admin"]), "/health")
        return code == 200

    def stop(self) -> None:
        for listener in self.listeners:
            close_listener(listener)
        self.listeners = []
        self.process.stop()


class Supervisor:
    def __init__(self, args):
        self.args = args
        self.binary = str(binary(BINARY))
        self.kube = Kubernetes(args.kubeconfig)
        self.extprocs: dict[str, ExtProc] = {}
        self.stopping = False

    def desired(self) -> tuple[dict, list[str]]:
        """``({"<ns>/<gateway>": argv}, problems)``; writes each Gateway's filter config file when it changed."""
        pods = self.kube.api.sanitize_for_serialization(
            self.kube.core.list_pod_for_all_namespaces(label_selector=ENVOY_PODS)).get("items") or []
        wanted, problems = {}, []
        for key, (namespace, container) in sidecars(pods).items():
            secret = config_secret_name(key)
            text = config_text(self.kube.read(self.kube.core.read_namespaced_secret, secret, namespace))
            if text is None:
                problems.append(f"{key}: no filter config yet (Secret {namespace}/{secret}, key {CONFIG_KEY})")
                continue
            config_file = Path(self.args.work_dir) / key / CONFIG_KEY
            config_file.parent.mkdir(parents=True, exist_ok=True)
            if not config_file.exists() or config_file.read_text() != text:
                partial = config_file.with_suffix(".partial")
                partial.write_text(text)
                partial.replace(config_file)
                _log(f"{key}: filter config written from Secret {namespace}/{secret}")
            wanted[key] = extproc_argv(self.binary, container, config_file)
        return wanted, problems

    def reconcile(self) -> dict:
        wanted, problems = self.desired()
        for key in list(self.extprocs):
            extproc = self.extprocs[key]
            if key not in wanted or wanted[key] != extproc.argv or extproc.process.exited():
                _log(f"{key}: stopping its extproc ({'exited' if extproc.process.exited() else 'sidecar changed'})")
                extproc.stop()
                del self.extprocs[key]
        report = {}
        for key, argv in wanted.items():
            if key not in self.extprocs:
                self.extprocs[key] = ExtProc(key, argv)
            extproc = self.extprocs[key]
            report[key] = {**extproc.ports, "pid": extproc.process.pid(), "argv": argv[1:],
                           "ready": extproc.healthy()}
        return {"gateways": report, "problems": problems}

    def stop_all(self) -> None:
        for extproc in self.extprocs.values():
            extproc.stop()
        self.extprocs = {}

    def loop(self) -> None:
        reconcile_until_stopped(self, "gateways", "ready", "not healthy yet", "gateway extproc(s)", POLL_INTERVAL, _log)


def run(argv=None) -> int:
    parser, _p_run = reconciler_parser(__doc__, "run the AI Gateway's extproc per Gateway (see the module docstring)",
                                       "where the filter configs are copied")
    supervisor = Supervisor(parser.parse_args(argv))
    return run_until_signalled(supervisor, supervisor.stop_all)


# --- the component ----------------------------------------------------------------------------------------------

def supervisor_ready(status_file: Path, started: float):
    return reconciler_ready(status_file, started)


def up(state: State, timeout: float = 120.0) -> dict:
    """Start the supervisor (building the extproc once); already running and ready: nothing is done."""
    return up_reconciler(state, NAME, "testworld.ai_gateway_extproc", "ai-gateway-extproc",
                         "each extproc runs in a private network namespace", SUBJECT, POLL_INTERVAL, timeout,
                         work_dir=True)


def down(state: State) -> None:
    stop_process(state, NAME)


def status(state: State) -> bool:
    return supervisor_status(state, NAME, supervisor_ready)


if __name__ == "__main__":
    sys.exit(run())
