"""The real Kuadrant operators, run out of cluster: kuadrant-operator v1.5.2, limitador-operator v0.18.3 and
authorino-operator v0.25.1 (built from ``go/kuadrant_operator``, ``go/limitador_operator``,
``go/authorino_operator``). The AuthPolicy, RateLimitPolicy and TokenRateLimitPolicy the collection writes are
judged by the real code, which writes the AuthConfigs, the Limitador CR's ``spec.limits``, the Authorino and
Limitador CRs and the wasm-shim EnvoyExtensionPolicy and EnvoyPatchPolicies.

One component, ``kuadrant``: a small supervisor (``python -m testworld.kuadrant run``, the process ``up`` starts
and ``down`` stops by pid) runs the three operators as three child processes, because they are one unit -- the
kuadrant-operator chart installs all three, and kuadrant-operator must start after the other two and be restarted
when what they serve changes. In a cluster the chart's Deployments would run them; here KWOK runs those pods
(nothing in them) and the supervisor runs the real binaries with the chart's configuration:

1. Each operator waits until its chart Deployment exists in ``kuadrant-system`` (``limitador-operator-controller-
   manager``, ``authorino-operator``, ``kuadrant-operator-controller-manager``) and the CRDs it watches are
   served. Its environment is the chart Deployment's container env (literal values; ``valueFrom`` a
   ``metadata.namespace`` field = the Deployment's namespace) with only what running out of cluster needs
   changed (:func:`operator_env`): ``WITH_EXTENSIONS=false`` for kuadrant-operator (extensions live in
   ``/extensions`` of its image), defaults where the chart sets nothing (``RELATED_IMAGE_*`` of the 1.5.2 chart,
   ``OPERATOR_NAMESPACE``). A changed env (``helm upgrade``) restarts the operator; a removed Deployment stops it.
2. Order: limitador-operator and authorino-operator first; kuadrant-operator once limitador-operator is ready
   and, if a Limitador CR exists, its ``status.service`` is set (kuadrant-operator v1.5.2 dereferences it without
   a check: ``internal/controller/envoy_gateway_ratelimit_cluster_reconciler.go:220``, nil pointer panic).
3. kuadrant-operator detects its providers once at start (Gateway API, Envoy Gateway, Istio, cert-manager,
   DNS operator, Limitador, Authorino, Prometheus operator, OpenShift console: ``internal/controller/
   state_of_the_world.go`` ``getOptions``, via the API server's discovery). The supervisor reads the same
   discovery documents (:data:`PROVIDERS`) every pass and restarts kuadrant-operator when the set changes.
4. An operator that exits is started again after 5 s (kuadrant-operator panics, for one, when it meets a
   Limitador CR without ``status.service`` that it has just created itself).

Listeners: each operator's metrics and health probe bind a free port on 127.0.0.1 (picked at each start); the
webhook servers are configured (``:9443``) but never started (controller-runtime starts one only when
``GetWebhookServer`` is called, which none of the three does); kuadrant-operator's wasm server (``:8082``) runs
only with Istio and a ``/wasm/plugin.wasm`` file, its extension descriptor service (``:50051``) only with
extensions. Nothing listens on another interface, so no private network namespace is needed.

Each operator talks to the API server as itself (``system:kuadrant-operator``, ``system:limitador-operator``,
``system:authorino-operator``, group ``system:masters``), so the audit log tells their writes from the
collection's. Logs: ``<state>/logs/kuadrant.log`` (supervisor) and ``<state>/logs/<operator>.log``; the phase of
each is in ``<state>/kuadrant.status.json``.

    python -m testworld.kuadrant run --state-dir D --status-file F --kubeconfig NAME=K [--kubeconfig NAME=K ...]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from testworld import controlplane
from testworld.base import State, chart_version_problem, free_port, stop_process
from testworld.gobuild import binary, build, pinned_version
from testworld.supervision import (Kubernetes, die_with_parent, run_parser, run_until_signalled, start_supervisor,
                                   status_ready, stop_child, supervisor_status, write_status)

NAME = "kuadrant"
NAMESPACE = "kuadrant-system"
POLL_INTERVAL = 2.0
RESTART_DELAY = 5.0

# The three operators, in start order: the chart Deployment each replaces, the kinds it watches (served by the API
# server: ``(group/version, plural)``; it does not start without them) and the env it gets when the chart sets none
# (the kuadrant-operator 1.5.2 chart's).
OPERATORS = {
    "limitador-operator": {
        "deployment": "limitador-operator-controller-manager",
        "kinds": [("limitador.kuadrant.io/v1alpha1", "limitadors")],
        "defaults": {"RELATED_IMAGE_LIMITADOR": "quay.io/kuadrant/limitador:v2.4.2"},
        "overrides": {},
    },
    "authorino-operator": {
        "deployment": "authorino-operator",
        "kinds": [("operator.authorino.kuadrant.io/v1beta1", "authorinos")],
        "defaults": {"RELATED_IMAGE_AUTHORINO": "quay.io/kuadrant/authorino:v0.26.2"},
        "overrides": {},
    },
    "kuadrant-operator": {
        "deployment": "kuadrant-operator-controller-manager",
        "kinds": [("kuadrant.io/v1beta1", "kuadrants"), ("kuadrant.io/v1", "authpolicies"),
                  ("kuadrant.io/v1", "ratelimitpolicies"), ("kuadrant.io/v1alpha1", "tokenratelimitpolicies"),
                  ("kuadrant.io/v1", "dnspolicies"), ("kuadrant.io/v1", "tlspolicies"),
                  ("limitador.kuadrant.io/v1alpha1", "limitadors"),
                  ("operator.authorino.kuadrant.io/v1beta1", "authorinos"),
                  ("authorino.kuadrant.io/v1beta3", "authconfigs"),
                  ("gateway.networking.k8s.io/v1", "httproutes"), ("gateway.networking.k8s.io/v1", "gateways")],
        "defaults": {"RELATED_IMAGE_WASMSHIM": "quay.io/kuadrant/wasm-shim:v0.14.1"},
        # Extensions are separate executables in /extensions of the operator's image.
        "overrides": {"WITH_EXTENSIONS": "false"},
    },
}
SUBJECTS = {name: f"/O=system:masters/CN=system:{name}" for name in OPERATORS}
# kuadrant-operator v1.5.2's providers, each detected once at start when all its kinds are served
# (state_of_the_world.go getOptions; utils.IsCRDInstalled = a REST mapping of group, kind, version):
# provider -> [(group/version, plural resource)].
PROVIDERS = {
    "gateway-api": [("gateway.networking.k8s.io/v1", "httproutes")],
    "istio": [("extensions.istio.io/v1alpha1", "wasmplugins"), ("networking.istio.io/v1alpha3", "envoyfilters"),
              ("security.istio.io/v1", "peerauthentications")],
    "envoy-gateway": [("gateway.envoyproxy.io/v1alpha1", "envoyextensionpolicies"),
                      ("gateway.envoyproxy.io/v1alpha1", "envoypatchpolicies")],
    "cert-manager": [("cert-manager.io/v1", "certificates"), ("cert-manager.io/v1", "issuers"),
                     ("cert-manager.io/v1", "clusterissuers")],
    "console-plugin": [("console.openshift.io/v1", "consoleplugins")],
    "cluster-version": [("config.openshift.io/v1", "clusterversions")],
    "dns-operator": [("kuadrant.io/v1alpha1", "dnsrecords")],
    "limitador-operator": [("limitador.kuadrant.io/v1alpha1", "limitadors")],
    "authorino-operator": [("operator.authorino.kuadrant.io/v1beta1", "authorinos"),
                           ("authorino.kuadrant.io/v1beta3", "authconfigs")],
    "prometheus-servicemonitors": [("monitoring.coreos.com/v1", "servicemonitors")],
    "prometheus-podmonitors": [("monitoring.coreos.com/v1", "podmonitors")],
}
# Phases in which `up` counts the supervisor as ready: waiting for the chart, or every operator ready.
READY_PHASES = ("waiting-for-chart", "ready")


# --- pure functions (unit-tested) -------------------------------------------------------------------------------

def operator_env(name: str, container_env: list | None, namespace: str) -> dict:
    """The environment of an operator: its chart Deployment's container env, out-of-cluster overrides applied.

    Literal values are kept; ``valueFrom.fieldRef`` ``metadata.namespace`` becomes the Deployment's namespace;
    other ``valueFrom`` sources (Secrets, ConfigMaps, resources) are left out. ``OPERATOR_NAMESPACE`` and the
    operator's defaults fill what the chart does not set.
    """
    spec = OPERATORS[name]
    env = dict(spec["defaults"])
    for item in container_env or []:
        key = item.get("name")
        if not key:
            continue
        if "value" in item and item["value"] is not None:
            env[key] = str(item["value"])
        elif ((item.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath") == "metadata.namespace":
            env[key] = namespace
        elif "valueFrom" not in item:
            env[key] = ""
    if name == "kuadrant-operator":
        env.setdefault("OPERATOR_NAMESPACE", namespace)
    env.update(spec["overrides"])
    return env


def operator_argv(name: str, executable: str, metrics_port: int, probe_port: int) -> list[str]:
    """Leader election off; metrics and health probe on 127.0.0.1 (kubebuilder flags, identical for all three)."""
    return [executable, "--leader-elect=false", f"--metrics-bind-address=127.0.0.1:{metrics_port}",
            f"--health-probe-bind-address=127.0.0.1:{probe_port}"]


def served_providers(discovery: dict) -> list[str]:
    """The providers kuadrant-operator would detect, from ``{group/version: set of plural resources}``."""
    return sorted(provider for provider, kinds in PROVIDERS.items()
                  if all(resource in discovery.get(gv, ()) for gv, resource in kinds))


def missing_kinds(required, discovery: dict) -> list[str]:
    """``plural.group/version`` of each required kind the API server does not serve (its CRD is missing)."""
    return sorted(f"{resource}.{gv}" for gv, resource in required if resource not in discovery.get(gv, ()))


def container_env(deployment: dict | None) -> list | None:
    """The first container's env of a Deployment (as the API returns it, camelCase keys)."""
    containers = (((deployment or {}).get("spec") or {}).get("template") or {}).get("spec", {}).get("containers")
    return (containers or [{}])[0].get("env") or []


def supervisor_ready(status_file: Path, started: float):
    """Readiness of the supervisor for ``up``: waiting for the chart, or every operator ready."""
    def describe(status):
        return "; ".join(f"{n}: {o.get('phase')} {o.get('detail', '')}".strip()
                         for n, o in (status.get("operators") or {}).items())
    return status_ready(status_file, started, READY_PHASES, describe)


def overall_phase(phases: dict) -> str:
    """The supervisor's phase from its operators' phases."""
    values = list(phases.values())
    if values and all(p == "ready" for p in values):
        return "ready"
    if values and all(p == "waiting-for-chart" for p in values):
        return "waiting-for-chart"
    return "starting"


# --- the supervisor ---------------------------------------------------------------------------------------------

def _log(msg: str) -> None:
    print(f"kuadrant supervisor: {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def http_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


class Operator:
    """One operator process: started with a fingerprint (its env, and for kuadrant-operator its providers)."""

    def __init__(self, name: str, kubeconfig: Path, state_dir: Path):
        self.name = name
        self.kubeconfig = kubeconfig
        self.home = state_dir / NAME / name
        self.log_path = state_dir / "logs" / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.fingerprint = None
        self.ports = (None, None)
        self.exited_at: float | None = None
        self.restarts = 0
        self.phase = "unknown"  # until the first pass
        self.detail = ""

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, env: dict, fingerprint) -> None:
        metrics, probe = free_port(), free_port()
        argv = operator_argv(self.name, str(binary(self.name)), metrics, probe)
        # Only the operator's env: nothing of the caller's environment (OTEL_*, LOG_LEVEL, ...) leaks in.
        full_env = {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "KUBECONFIG": str(self.kubeconfig), **env}
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)} "
                      f"env {json.dumps(env, sort_keys=True)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
                argv, env=full_env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                # Killed with the supervisor, whatever kills it.
                preexec_fn=die_with_parent)
        self.fingerprint = fingerprint
        self.ports = (metrics, probe)
        self.exited_at = None
        _log(f"{self.name} started (pid {self.proc.pid}, metrics 127.0.0.1:{metrics}, probe 127.0.0.1:{probe})")

    def terminate(self) -> None:
        if self.running():
            self.proc.terminate()

    def stop(self, reason: str = "") -> None:
        if self.running():
            _log(f"stopping {self.name} (pid {self.proc.pid}){': ' + reason if reason else ''}")
            stop_child(self.proc)
        self.proc = None
        self.fingerprint = None

    def ready(self) -> bool:
        return self.running() and http_ready(self.ports[1])

    def status(self) -> dict:
        return {"phase": self.phase, "detail": self.detail, "pid": self.proc.pid if self.running() else None,
                "metrics_port": self.ports[0], "probe_port": self.ports[1], "restarts": self.restarts,
                "log": str(self.log_path)}


class Supervisor:
    def __init__(self, args):
        self.args = args
        kubeconfigs = dict(item.split("=", 1) for item in args.kubeconfig)
        self.kube = Kubernetes(kubeconfigs["kuadrant-operator"])
        self.operators = {name: Operator(name, Path(kubeconfigs[name]), args.state_dir) for name in OPERATORS}
        self.stopping = False

    # reads ------------------------------------------------------------------------------------------------------

    def read_deployment(self, name: str) -> dict | None:
        return self.kube.read(self.kube.apps.read_namespaced_deployment, name, self.args.namespace)

    def discovery(self) -> dict:
        """``{group/version: plural resources}`` of every group version the operators need or detect (what their
        REST mappers see; discovery documents are small, unlike a list of CRDs with their schemas)."""
        found = {}
        wanted = [kind[0] for kinds in PROVIDERS.values() for kind in kinds]
        wanted += [kind[0] for spec in OPERATORS.values() for kind in spec["kinds"]]
        for gv in sorted(set(wanted)):
            group, version = gv.split("/")
            try:
                doc = self.kube.custom.get_api_resources(group, version)  # GET /apis/<group>/<version>
            except self.kube.ApiException as exc:
                if exc.status == 404:
                    continue
                raise
            found[gv] = {r.name for r in (doc.resources or []) if "/" not in r.name}
        return found

    def limitador_without_service(self) -> list[str]:
        """Limitador CRs whose ``status.service`` limitador-operator has not set yet."""
        try:
            items = self.kube.custom.list_namespaced_custom_object(
                "limitador.kuadrant.io", "v1alpha1", self.args.namespace, "limitadors")["items"]
        except self.kube.ApiException as exc:
            if exc.status == 404:
                return []
            raise
        return [i["metadata"]["name"] for i in items if not (i.get("status") or {}).get("service")]

    # one pass ---------------------------------------------------------------------------------------------------

    def desired(self, name: str, discovery: dict, providers: list) -> tuple[dict | None, object, str]:
        """``(env, fingerprint, detail)`` of an operator that should run now; env ``None`` if it should not."""
        spec = OPERATORS[name]
        deployment = self.read_deployment(spec["deployment"])
        if deployment is None:
            return None, None, f"no Deployment {self.args.namespace}/{spec['deployment']} (the chart is not installed)"
        # the three run for the kuadrant-operator release they were built for (its chart pins the other two)
        problem = chart_version_problem(self.read_deployment(OPERATORS["kuadrant-operator"]["deployment"]),
                                        pinned_version("kuadrant-operator"))
        if problem:
            return None, None, problem
        missing = missing_kinds(spec["kinds"], discovery)
        if missing:
            return None, None, f"not served (CRD missing): {', '.join(missing)}"
        env = operator_env(name, container_env(deployment), self.args.namespace)
        fingerprint = json.dumps({"env": env, "providers": providers if name == "kuadrant-operator" else None},
                                 sort_keys=True)
        return env, fingerprint, ""

    def one_pass(self) -> None:
        discovery = self.discovery()
        providers = served_providers(discovery)
        for name, op in self.operators.items():
            env, fingerprint, detail = self.desired(name, discovery, providers)
            if env is None:
                op.stop(detail)
                op.phase, op.detail = "waiting-for-chart", detail
                continue
            if name == "kuadrant-operator" and not op.running():
                limitador = self.operators["limitador-operator"]
                if not limitador.ready():
                    op.phase, op.detail = "waiting", "limitador-operator is not ready yet"
                    continue
                pending = self.limitador_without_service()
                if pending:
                    op.phase, op.detail = "waiting", f"Limitador {', '.join(pending)} has no status.service yet"
                    continue
            if op.running() and op.fingerprint != fingerprint:
                what = "providers" if json.loads(op.fingerprint or "{}").get("env") == env else "chart env"
                op.stop(f"{what} changed")
            if op.proc is not None and not op.running():
                rc = op.proc.returncode
                _log(f"{name} exited with {rc}; restarting in {RESTART_DELAY:.0f}s (log {op.log_path})")
                op.proc, op.exited_at = None, time.monotonic()
                op.restarts += 1
                op.phase, op.detail = "exited", f"exited with {rc}"
                continue
            if op.proc is None:
                if op.exited_at is not None and time.monotonic() - op.exited_at < RESTART_DELAY:
                    continue
                if name == "kuadrant-operator":
                    _log(f"kuadrant-operator providers: {', '.join(providers)}")
                op.start(env, fingerprint)
                op.phase, op.detail = "starting", ""
                continue
            op.phase, op.detail = ("ready", "") if op.ready() else ("starting", "")

    def write_status(self, error: str = "") -> None:
        phases = {name: op.phase for name, op in self.operators.items()}
        write_status(self.args.status_file, "failed" if error else overall_phase(phases), error, indent=1,
                     operators={name: op.status() for name, op in self.operators.items()})

    def stop_all(self) -> None:
        for op in self.operators.values():  # all at once, then wait for each
            op.terminate()
        for op in reversed(list(self.operators.values())):
            op.stop()

    def loop(self) -> None:
        self.write_status()
        while not self.stopping:
            try:
                self.one_pass()
                self.write_status()
            except Exception as exc:  # noqa: BLE001 - logged and retried, as a controller would
                _log(f"pass failed: {exc}")
                self.write_status(str(exc))
            time.sleep(POLL_INTERVAL)
        self.stop_all()


def run(argv=None) -> int:
    parser, p_run = run_parser(__doc__, "supervise the three operators (see the module docstring)")
    p_run.add_argument("--state-dir", type=Path, required=True)
    p_run.add_argument("--status-file", type=Path, required=True)
    p_run.add_argument("--kubeconfig", action="append", required=True, help="OPERATOR=KUBECONFIG, one per operator")
    p_run.add_argument("--namespace", default=NAMESPACE)
    supervisor = Supervisor(parser.parse_args(argv))
    return run_until_signalled(supervisor, supervisor.stop_all)


# --- the component ----------------------------------------------------------------------------------------------

def up(state: State, timeout: float = 90.0) -> dict:
    build(list(OPERATORS))
    kubeconfigs = [f"{name}={controlplane.identity_kubeconfig(state, name, SUBJECTS[name])}" for name in OPERATORS]
    status_file = state.root / f"{NAME}.status.json"
    args = [f"--state-dir={state.root}", f"--status-file={status_file}", *(f"--kubeconfig={k}" for k in kubeconfigs)]
    return start_supervisor(state, NAME, "testworld.kuadrant", args, supervisor_ready(status_file, time.time()),
                            timeout, info={"status_file": str(status_file)})


def down(state: State) -> None:
    stop_process(state, NAME)


def status(state: State) -> bool:
    return supervisor_status(state, NAME, supervisor_ready)


if __name__ == "__main__":
    sys.exit(run())
