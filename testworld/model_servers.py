"""Model servers: one llm-d-inference-sim per model pod, listening on that pod's loopback IP and port.

The engines (vLLM, SGLang, TensorRT-LLM) need a GPU and never run here; their pods are KWOK's (Running, with a
pod IP from ``127.1.0.0/16``, no process). This component puts a process behind each of them: the upstream vLLM
simulator **llm-d-inference-sim v0.10.2** (github.com/llm-d/llm-d-inference-sim, built from its Go module by
``testworld/go/inference_sim``; what llm-d's own end-to-end tests run in place of vLLM). It speaks vLLM's
OpenAI API -- ``/v1/chat/completions`` and ``/v1/completions`` (streaming with ``usage`` when
``stream_options.include_usage``), ``/v1/models`` -- and exports vLLM's Prometheus metrics under their vLLM names
(``vllm:num_requests_running``, ``vllm:num_requests_waiting``, ``vllm:kv_cache_usage_perc``,
``vllm:prompt_tokens_total``, ``vllm:generation_tokens_total``, ``vllm:time_to_first_token_seconds``,
``vllm:inter_token_latency_seconds``, ...), so an endpoint picker scraping ``<pod IP>:<port>/metrics`` scores
real numbers. Its latency model is its own (``--time-to-first-token``, ``--inter-token-latency``,
``--prefill-time-per-token``, ``--kv-cache-size``, ``--max-num-seqs``; :data:`DEFAULT_SIMULATOR_ARGS`); a pod's
annotation :data:`ARGS_ANNOTATION` (a JSON list of flags) adds to them, e.g. to make one replica slow.

Which pods: every pod labelled ``llm-d.ai/inference-serving=true`` (the label the collection's model pods carry and
the InferencePool selects), in any namespace, once it is Running with a pod IP. Which model and port: read from the
engine container's command line as each engine reads it (:func:`served_model`): vLLM serves ``--served-model-name``
or else the model argument (``vllm serve <model>`` / ``--model``); SGLang ``--served-model-name`` or else
``--model-path``; ``trtllm-serve <model>``; the port is ``--port`` (the engines' defaults otherwise).

Network: the simulator listens on ``:<port>`` on every interface (``pkg/communication/http.go``:
``net.Listen("tcp4", ":port")``), which no flag moves. So each runs in a private network namespace with only its
loopback (:mod:`testworld.netns`, as the platform's controllers run), and the supervisor listens on
``<pod IP>:<port>`` on the host's loopback and forwards each connection inside. A pod whose IP is not in
``127.0.0.0/8`` is refused (logged, never served): nothing here listens on or dials anything else. A pod that goes
away (deleted, not Running, a new IP) has its simulator stopped and its listener closed. With the KV-cache
model on (``--enable-kvcache``) the simulator wants ``POD_IP`` (set to the pod's) and publishes KV events to
ZMQ at ``tcp://127.0.0.1:5557`` -- its namespace's own loopback, where nothing listens.

The supervisor (``python -m testworld.model_servers run``, the process ``up`` starts and ``down`` stops by pid) lists
the pods every :data:`POLL_INTERVAL` s as the user ``system:testworld:model-servers`` (it writes nothing). Its status file
names each pod it serves, the model and whether the simulator answers ``/health`` (phase ``ready`` when every
wanted pod's does). Logs: ``<state>/logs/model-servers.log``.

    python -m testworld.model_servers run --kubeconfig K --status-file F [--simulator-arg=FLAG ...]
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

from testworld.base import State, flag_value, stop_process
from testworld.gobuild import binary
from testworld.netns import (NamespacedProcess, bridge, close_listener, http_get, listen, namespaced_argv,
                             serving_pods)
from testworld.supervision import (Kubernetes, reconcile_until_stopped, reconciler_parser, reconciler_ready,
                                   run_until_signalled, supervisor_status, up_reconciler)

NAME = "model-servers"
BINARY = "llm-d-inference-sim"
SUBJECT = "/O=system:masters/CN=system:testworld:model-servers"
SELECTOR = "llm-d.ai/inference-serving=true"
ARGS_ANNOTATION = "testworld.tokenlabs.io/simulator-args"
POLL_INTERVAL = 1.0
# The engines' default serving ports (vLLM and trtllm-serve 8000, SGLang 30000) when the command line names none.
DEFAULT_PORTS = {"vllm": 8000, "sglang": 30000, "trtllm": 8000}
# A latency model in the range of one GB10 serving an 8B model (about 25 ms to the first token of a short prompt,
# 12 ms per output token), a context window and batch as the catalog's engines are given, and a KV cache whose
# usage moves under load. The dummy tokenizer: no model download (nothing is dialed).
DEFAULT_SIMULATOR_ARGS = ("--force-dummy-tokenizer", "--mode=random", "--time-to-first-token=25ms",
                          "--inter-token-latency=12ms", "--max-model-len=16384", "--max-num-seqs=32",
                          "--enable-kvcache", "--kv-cache-size=2048", "--block-size=16", "--seed=7")


# --- pure functions (unit-tested) -------------------------------------------------------------------------------

def _positional(argv: list[str]) -> str | None:
    """The first argument that is neither a flag nor a flag's value (``--flag=V`` carries its value)."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = "=" not in arg
        else:
            return arg
    return None


def served_model(container: dict) -> tuple[str, str, int] | None:
    """``(engine, model id, port)`` of an engine container, read from its command line as the engine reads it;
    ``None`` when it runs none of the engines."""
    argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    words = " ".join(argv)
    if "sglang.launch_server" in words:
        engine, model = "sglang", flag_value(argv, "--served-model-name") or flag_value(argv, "--model-path")
    elif argv and argv[0].endswith("trtllm-serve"):
        engine, model = "trtllm", _positional(argv[1:])
    elif argv[:2] == ["vllm", "serve"] or "vllm.entrypoints" in words:
        rest = argv[2:] if argv[:2] == ["vllm", "serve"] else argv
        engine = "vllm"
        model = flag_value(rest, "--served-model-name") or flag_value(rest, "--model") or \
            (_positional(rest) if argv[:2] == ["vllm", "serve"] else None)
    else:
        return None
    if not model:
        return None
    port = flag_value(argv, "--port")
    return engine, model, int(port) if port and port.isdigit() else DEFAULT_PORTS[engine]


def wanted_servers(pods: list[dict]) -> tuple[dict, list[str]]:
    """``({"<ns>/<pod>": {ip, port, model, engine, extra_args}}, problems)``: the simulators the pods call for.

    Only Running pods with an IP count; an IP outside ``127.0.0.0/8``, a container that runs no known engine and a
    malformed :data:`ARGS_ANNOTATION` are problems (never served)."""
    wanted = {}
    running, problems = serving_pods(pods)
    for key, pod in running:
        meta, status = pod["metadata"], pod["status"]
        found = None
        for container in (pod.get("spec") or {}).get("containers") or []:
            found = served_model(container)
            if found:
                break
        if not found:
            problems.append(f"{key}: no container runs vllm, sglang or trtllm-serve with a model; not served")
            continue
        raw = (meta.get("annotations") or {}).get(ARGS_ANNOTATION)
        try:
            extra = json.loads(raw) if raw else []
            if not isinstance(extra, list) or not all(isinstance(a, str) for a in extra):
                raise ValueError("not a list of strings")
        except ValueError as exc:
            problems.append(f"{key}: annotation {ARGS_ANNOTATION}={raw!r} is not a JSON list of flags ({exc})")
            continue
        engine, model, port = found
        wanted[key] = {"ip": status["podIP"], "port": port, "model": model, "engine": engine, "extra_args": extra}
    return wanted, problems


def simulator_argv(sim: str, server: dict, defaults=DEFAULT_SIMULATOR_ARGS) -> list[str]:
    """The simulator's command line for one pod: its model and port, the latency model, the pod's extra flags
    (later flags win)."""
    return [sim, f"--model={server['model']}", f"--port={server['port']}", *defaults, *server["extra_args"]]


# --- the supervisor ---------------------------------------------------------------------------------------------

def _log(msg: str) -> None:
    print(f"model-servers supervisor: {msg}", file=sys.stderr, flush=True)


class Served:
    """One pod's simulator in its namespace and the host listener on the pod's address."""

    def __init__(self, key: str, server: dict, argv: list[str]):
        self.key, self.server = key, server
        self.process = NamespacedProcess()
        # The pod's downward-API variables: POD_IP for the KV-cache model (its KV events go to ZMQ at
        # tcp://127.0.0.1:5557, the namespace's own loopback, where nothing listens); POD_NAME and POD_NAMESPACE,
        # which the simulator returns as x-inference-pod / x-inference-namespace response headers (which replica
        # answered, as seen through the gateway).
        namespace, pod = key.split("/", 1)
        self.process.start(namespaced_argv(argv), [],
                           env=dict(os.environ, POD_IP=server["ip"], POD_NAME=pod, POD_NAMESPACE=namespace))
        try:
            self.listener = listen(server["port"], host=server["ip"])
        except OSError:
            self.process.stop()
            raise
        bridge(self.listener, lambda: self.process.dial(server["port"]))
        _log(f"{key}: {server['model']} ({server['engine']}) on {server['ip']}:{server['port']} "
             f"(pid {self.process.proc.pid}): {shlex.join(argv[1:])}")

    def healthy(self) -> bool:
        code, _body = http_get(lambda: self.process.dial(self.server["port"]), "/health")
        return code == 200

    def stop(self) -> None:
        close_listener(self.listener)
        self.process.stop()


class Supervisor:
    def __init__(self, args):
        self.args = args
        self.binary = str(binary(BINARY))
        self.defaults = tuple(args.simulator_arg) if args.simulator_arg else DEFAULT_SIMULATOR_ARGS
        self.kube = Kubernetes(args.kubeconfig)
        self.served: dict[str, Served] = {}
        self.stopping = False

    def reconcile(self) -> dict:
        pods = self.kube.api.sanitize_for_serialization(
            self.kube.core.list_pod_for_all_namespaces(label_selector=SELECTOR)).get("items") or []
        wanted, problems = wanted_servers(pods)
        for key in list(self.served):
            current = self.served[key]
            if key not in wanted or wanted[key] != current.server or current.process.exited():
                why = "exited" if current.process.exited() else "pod changed or gone"
                _log(f"{key}: stopping its simulator ({why})")
                current.stop()
                del self.served[key]
        for key, server in wanted.items():
            if key not in self.served:
                try:
                    self.served[key] = Served(key, server, simulator_argv(self.binary, server, self.defaults))
                except OSError as exc:
                    problems.append(f"{key}: cannot serve {server['ip']}:{server['port']}: {exc}")
        return {"servers": {key: {**s.server, "pid": s.process.pid(), "healthy": s.healthy()}
                            for key, s in self.served.items()}, "problems": problems}

    def stop_all(self) -> None:
        for served in self.served.values():
            served.stop()
        self.served = {}

    def loop(self) -> None:
        reconcile_until_stopped(self, "servers", "healthy", "not answering /health yet", "model server(s)", POLL_INTERVAL, _log)


def run(argv=None) -> int:
    parser, p_run = reconciler_parser(__doc__, "serve every model pod with a simulator (see the module docstring)")
    p_run.add_argument("--simulator-arg", action="append", default=[],
                       help="a simulator flag for every pod, replacing the default latency model (repeatable)")
    supervisor = Supervisor(parser.parse_args(argv))
    return run_until_signalled(supervisor, supervisor.stop_all)


# --- the component ----------------------------------------------------------------------------------------------

def supervisor_ready(status_file: Path, started: float):
    return reconciler_ready(status_file, started)


def up(state: State, timeout: float = 60.0) -> dict:
    """Start the supervisor (building the simulator once); already running and ready: nothing is done."""
    return up_reconciler(state, NAME, "testworld.model_servers", "inference-sim",
                         "each model server runs in a private network namespace", SUBJECT, POLL_INTERVAL, timeout,
                         work_dir=False)


def down(state: State) -> None:
    stop_process(state, NAME)


def status(state: State) -> bool:
    return supervisor_status(state, NAME, supervisor_ready)


if __name__ == "__main__":
    sys.exit(run())
