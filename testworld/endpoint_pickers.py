"""Endpoint pickers: the real GAIE v1.5.0 endpoint picker (``cmd/epp``), one per InferencePool, out of cluster.

The collection installs each model's InferencePool with the ``inferencepool`` chart (v1.5.0), which also deploys
the pool's endpoint picker (a KWOK pod here: no process). This component runs that picker for real: the Gateway API
Inference Extension's ``cmd/epp`` at v1.5.0 (sigs.k8s.io/gateway-api-inference-extension, built by
``testworld/go/endpoint_picker``). The collection's image is the llm-d inference scheduler v0.8.0, an EPP build on
GAIE v1.5.0 with llm-d's extra plugins; its Go module is refused by the module proxy, so the framework it is built
on runs, with the chart's own configuration (which names only GAIE plugins).

Per InferencePool (``inference.networking.k8s.io/v1``, any namespace) the supervisor finds the chart's Deployment
(the container ``epp`` whose arguments name ``--pool-name <pool>``) and starts the picker with exactly those
arguments and the chart's plugin ConfigMap (``default-plugins.yaml``: queue, KV-cache-utilization and prefix-cache
scorers, the metrics data source and extractor), with these differences only:

- ``--config-file`` points at a copy of the ConfigMap's file (no ``/config`` mount here);
- ``--secure-serving=false``: the gateway stand-in dials the ext_proc port in plaintext (in a cluster the picker
  serves a self-signed certificate Envoy does not verify) and ``--enable-pprof=false``;
- leader election stays off (one replica), ``NAMESPACE`` is the pool's (the chart's downward-API variable) and the
  API server is reached with a kubeconfig of the user ``system:testworld:endpoint-picker`` (``KUBECONFIG``: the
  picker parses only pflag flags, so ``--kubeconfig`` does not exist).

A pool without such a Deployment (made by hand) gets the picker's built-in defaults (``--pool-name``,
``--pool-namespace``, the default plugin set).

What the picker does here is upstream's: it watches the pool and its pods (selector, ``Ready``, pod IP and target
ports), scrapes ``http://<pod IP>:<port>/metrics`` of each model server (the llm-d-inference-sim of
:mod:`testworld.model_servers`: ``vllm:num_requests_waiting``, ``vllm:num_requests_running``,
``vllm:kv_cache_usage_perc``), scores and picks, and answers Envoy's ext_proc protocol
(``envoy.service.ext_proc.v3.ExternalProcessor/Process``: the endpoint in the header and dynamic metadata
``x-gateway-destination-endpoint``). ``docs/dev/endpoint-picker-v1.5.0.md`` has the source references.

Network: the picker binds wildcard ports (ext_proc 9002, gRPC health 9003, metrics 9090; ``net.Listen("tcp",
":port")``), so each runs in a private network namespace (:mod:`testworld.netns`). The supervisor bridges in the
API server (``127.0.0.1:<port>``, as in the kubeconfig) and every endpoint of the pool (``<pod IP>:<port>`` inside
forwarded to the same loopback address on the host, where the model server listens), re-read every
:data:`POLL_INTERVAL` s; and it serves the ext_proc, health and metrics ports on free ports of the host's
``127.0.0.1``, written per pool into its status file (``pickers: {"<ns>/<pool>": {"ext_proc": port, ...}}``) for
the gateway stand-in. Only addresses in ``127.0.0.0/8`` are ever bridged. A picker is ready once it reports its
pool's ``inference_pool_ready_pods`` gauge (its datastore has synced the pool); the gauge counts the pods whose
metrics it could read (``ready_pods`` in the status file), and fewer than the pool's endpoints is reported as a problem
(e.g. an SGLang pod: the picker reads ``sglang:*`` names for pods labelled ``engine-type: sglang``, the simulator
exports vLLM's). Logs: ``<state>/logs/endpoint-pickers.log``.

    python -m testworld.endpoint_pickers run --kubeconfig K --status-file F --apiserver-port P --work-dir D
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import sys
from pathlib import Path

from testworld.base import State, flag_value, free_port, stop_process
from testworld.gobuild import binary
from testworld.netns import LOOPBACK, NamespacedProcess, bridge, close_listener, http_get, listen, namespaced_argv
from testworld.supervision import (Kubernetes, reconcile_until_stopped, reconciler_parser, reconciler_ready,
                                   run_until_signalled, supervisor_status, up_reconciler)

NAME = "endpoint-pickers"
BINARY = "epp"
SUBJECT = "/O=system:masters/CN=system:testworld:endpoint-picker"
POOL_GROUP, POOL_VERSION, POOL_PLURAL = "inference.networking.k8s.io", "v1", "inferencepools"
PORTS = {"ext_proc": 9002, "health": 9003, "metrics": 9090}  # the picker's defaults, inside its namespace
CONTAINER = "epp"
POLL_INTERVAL = 2.0
# Set on top of the chart's arguments (later flags win in pflag); see the module docstring.
OVERRIDES = ("--secure-serving=false", "--enable-pprof=false")


# --- pure functions (unit-tested) -------------------------------------------------------------------------------

def chart_container(deployments: list[dict], pool: str) -> dict | None:
    """The chart's ``epp`` container (with the Deployment's volumes) that serves ``pool``, if one exists."""
    for deployment in deployments:
        spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in spec.get("containers") or []:
            args = [str(a) for a in container.get("args") or []]
            if container.get("name") == CONTAINER and flag_value(args, "--pool-name") == pool:
                return {"args": args, "volumes": spec.get("volumes") or [],
                        "mounts": container.get("volumeMounts") or [], "deployment": deployment["metadata"]["name"]}
    return None


def config_source(container: dict) -> tuple[str, str] | None:
    """``(ConfigMap name, key)`` behind the chart's ``--config-file`` (a file of a mounted ConfigMap volume)."""
    path = flag_value(container["args"], "--config-file")
    if not path:
        return None
    for mount in container["mounts"]:
        prefix = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(prefix):
            volume = next((v for v in container["volumes"] if v.get("name") == mount.get("name")), {})
            if volume.get("configMap"):
                return volume["configMap"]["name"], path[len(prefix):]
    return None


def picker_argv(epp: str, namespace: str, pool: str, container: dict | None, config_file: Path | None) -> list[str]:
    """The picker's command line: the chart's arguments (or the defaults for a pool without a chart), the config
    file moved to ``config_file``, then :data:`OVERRIDES`."""
    if container is None:
        return [epp, f"--pool-name={pool}", f"--pool-namespace={namespace}", *OVERRIDES]
    args, out, skip = container["args"], [], False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == "--config-file" and i + 1 < len(args):
            skip = True
            if config_file:
                out += ["--config-file", str(config_file)]
        elif arg.startswith("--config-file="):
            if config_file:
                out.append(f"--config-file={config_file}")
        else:
            out.append(arg.strip('"') if re.fullmatch(r'"[^"]*"', arg) else arg)
    return [epp, *out, *OVERRIDES]


def pool_endpoints(pool: dict, pods: list[dict]) -> tuple[set, list[str]]:
    """``({(pod IP, port)}, problems)``: what the picker will scrape -- Ready pods the pool selects, at each target
    port. An address outside ``127.0.0.0/8`` is a problem, never bridged."""
    spec = pool.get("spec") or {}
    labels = (spec.get("selector") or {}).get("matchLabels") or {}
    ports = [p.get("number") for p in spec.get("targetPorts") or [] if p.get("number")]
    endpoints, problems = set(), []
    for pod in pods:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        if meta.get("namespace") != pool["metadata"]["namespace"] or meta.get("deletionTimestamp"):
            continue
        if any((meta.get("labels") or {}).get(k) != v for k, v in labels.items()):
            continue
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        if not ready or not status.get("podIP"):
            continue
        if ipaddress.ip_address(status["podIP"]) not in LOOPBACK:
            problems.append(f"{meta.get('namespace')}/{meta.get('name')}: pod IP {status['podIP']} is not in "
                            f"{LOOPBACK}; not bridged")
            continue
        endpoints |= {(status["podIP"], port) for port in ports}
    return endpoints, problems


def ready_pods(metrics: str, pool: str) -> int | None:
    """The picker's ``inference_pool_ready_pods`` gauge for ``pool`` (``None`` before it reports one)."""
    m = re.search(r'^inference_pool_ready_pods\{[^}]*name="%s"[^}]*\} (\S+)$' % re.escape(pool), metrics, re.M)
    return int(float(m.group(1))) if m else None


# --- the supervisor ---------------------------------------------------------------------------------------------

def _log(msg: str) -> None:
    print(f"endpoint-pickers supervisor: {msg}", file=sys.stderr, flush=True)


class Picker:
    """One pool's picker in its namespace, its host ports and the endpoints bridged into it."""

    def __init__(self, key: str, argv: list[str], env: dict, apiserver_port: int, config: str):
        self.key, self.argv, self.config = key, argv, config
        self.process = NamespacedProcess()
        self.process.start(namespaced_argv(argv), [apiserver_port], env=env)
        self.ports, self.listeners = {}, []
        self.endpoints: dict[tuple, object] = {}
        try:
            for name, inside in PORTS.items():
                self.ports[name] = free_port()
                listener = listen(self.ports[name])
                self.listeners.append(listener)
                bridge(listener, lambda inside=inside: self.process.dial(inside))
        except OSError:
            self.stop()
            raise
        _log(f"{key}: picker started (pid {self.process.proc.pid}), ext_proc on 127.0.0.1:{self.ports['ext_proc']}: "
             f"{' '.join(argv[1:])}")

    def sync_endpoints(self, wanted: set) -> None:
        for endpoint in set(self.endpoints) - wanted:
            close_listener(self.endpoints.pop(endpoint))
        for ip, port in wanted - set(self.endpoints):
            listener = self.process.netns.run(lambda ip=ip, port=port: listen(port, host=ip))
            bridge(listener, lambda ip=ip, port=port: socket.create_connection((ip, port), timeout=5))
            self.endpoints[(ip, port)] = listener

    def metrics(self) -> str:
        code, body = http_get(lambda: self.process.dial(PORTS["metrics"]), "/metrics", body=True)
        return body.decode(errors="replace") if code == 200 else ""

    def stop(self) -> None:
        for listener in [*self.listeners, *self.endpoints.values()]:
            close_listener(listener)
        self.listeners, self.endpoints = [], {}
        self.process.stop()


class Supervisor:
    def __init__(self, args):
        self.args = args
        self.binary = str(binary(BINARY))
        self.kube = Kubernetes(args.kubeconfig)
        self.pickers: dict[str, Picker] = {}
        self.stopping = False

    def _list(self, fn, *args, **kwargs) -> list[dict]:
        return self.kube.api.sanitize_for_serialization(fn(*args, **kwargs)).get("items") or []

    def desired(self) -> tuple[dict, list[str]]:
        """``({"<ns>/<pool>": (argv, env, endpoints, pool name)}, problems)``."""
        pools = self.kube.custom.list_cluster_custom_object(POOL_GROUP, POOL_VERSION, POOL_PLURAL).get("items") or []
        pods = self._list(self.kube.core.list_pod_for_all_namespaces)
        wanted, problems = {}, []
        for pool in pools:
            namespace, name = pool["metadata"]["namespace"], pool["metadata"]["name"]
            key = f"{namespace}/{name}"
            container = chart_container(self._list(self.kube.apps.list_namespaced_deployment, namespace), name)
            config_file = None
            source = config_source(container) if container else None
            if source:
                config_map = self.kube.read(self.kube.core.read_namespaced_config_map, source[0], namespace)
                text = ((config_map or {}).get("data") or {}).get(source[1])
                if text is None:
                    problems.append(f"{key}: ConfigMap {namespace}/{source[0]} has no key {source[1]} yet")
                    continue
                config_file = Path(self.args.work_dir) / namespace / name / source[1]
                config_file.parent.mkdir(parents=True, exist_ok=True)
                if not config_file.exists() or config_file.read_text() != text:
                    config_file.write_text(text)
            argv = picker_argv(self.binary, namespace, name, container, config_file)
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KUBECONFIG": str(self.args.kubeconfig),
                   "NAMESPACE": namespace}
            endpoints, pod_problems = pool_endpoints(pool, pods)
            problems += pod_problems
            wanted[key] = (argv, env, endpoints, name, config_file.read_text() if config_file else "")
        return wanted, problems

    def reconcile(self) -> dict:
        wanted, problems = self.desired()
        for key in list(self.pickers):
            picker = self.pickers[key]
            if key not in wanted or wanted[key][0] != picker.argv or picker.config != wanted[key][4] \
                    or picker.process.exited():
                _log(f"{key}: stopping its picker ({'exited' if picker.process.exited() else 'pool or chart changed'})")
                picker.stop()
                del self.pickers[key]
        report = {}
        for key, (argv, env, endpoints, pool, config) in wanted.items():
            if key not in self.pickers:
                self.pickers[key] = Picker(key, argv, env, self.args.apiserver_port, config)
            picker = self.pickers[key]
            picker.sync_endpoints(endpoints)
            seen = ready_pods(picker.metrics(), pool)
            pods = len({ip for ip, _port in endpoints})
            if seen is not None and seen < pods:
                problems.append(f"{key}: the picker reads metrics from {seen} of the pool's {pods} pod(s) "
                                "(its log names what it did not find)")
            report[key] = {**picker.ports, "pid": picker.process.pid(), "argv": argv[1:],
                           "endpoints": sorted(f"{i}:{p}" for i, p in endpoints), "ready_pods": seen,
                           "synced": seen is not None}
        return {"pickers": report, "problems": problems}

    def stop_all(self) -> None:
        for picker in self.pickers.values():
            picker.stop()
        self.pickers = {}

    def loop(self) -> None:
        reconcile_until_stopped(self, "pickers", "synced", "not synced with their pool yet", "endpoint picker(s)",
                                POLL_INTERVAL, _log)


def run(argv=None) -> int:
    parser, p_run = reconciler_parser(__doc__, "run an endpoint picker per InferencePool (see the module docstring)",
                                      "where the pools' plugin configs are copied")
    p_run.add_argument("--apiserver-port", type=int, required=True)
    supervisor = Supervisor(parser.parse_args(argv))
    return run_until_signalled(supervisor, supervisor.stop_all)


# --- the component ----------------------------------------------------------------------------------------------

def supervisor_ready(status_file: Path, started: float):
    return reconciler_ready(status_file, started)


def up(state: State, timeout: float = 120.0) -> dict:
    """Start the supervisor (building the picker once); already running and ready: nothing is done."""
    return up_reconciler(state, NAME, "testworld.endpoint_pickers", "endpoint-picker",
                         "each endpoint picker runs in a private network namespace", SUBJECT, POLL_INTERVAL, timeout,
                         args=(f"--apiserver-port={state.load()['port']}",), work_dir=True)


def down(state: State) -> None:
    stop_process(state, NAME)


def status(state: State) -> bool:
    return supervisor_status(state, NAME, supervisor_ready)


if __name__ == "__main__":
    sys.exit(run())
