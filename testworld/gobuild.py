"""The pinned Go binaries of the test world, each built once from its wrapper module and cached.

Every binary is built from a wrapper module under ``testworld/go/<name>/`` whose committed
``go.mod``/``go.sum`` pin every module hash; the result is cached in ``$TOKENLABS_CACHE/bin``
(default ``~/.cache/tokenlabs/bin``), keyed by the pinned version and a digest of go.mod, go.sum and
the linker flags. The ``github.com/kuadrant`` modules have no record in the Go checksum database:
they build with ``GONOSUMDB=github.com/kuadrant/*`` and the committed go.sum is what pins them.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from testworld.base import CACHE, PACKAGE, TestWorldError, log

GO_DIR = PACKAGE / "go"

# Each Go wrapper module and the commands it builds.
COMPONENTS = {
    "kube": {"module": "k8s.io/kubernetes", "commands": {
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kubectl": "k8s.io/kubernetes/cmd/kubectl"}},
    "etcd": {"module": "go.etcd.io/etcd/server/v3", "commands": {
        "etcd": "go.etcd.io/etcd/server/v3"}},
    # The cluster behind the API server, from the same wrapper module and go.sum as kube-apiserver.
    "kube-controllers": {"module": "k8s.io/kubernetes", "dir": "kube", "commands": {
        "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager"}},
    # Simulated nodes and pods (KWOK: no kubelet, no container runtime).
    "kwok": {"module": "sigs.k8s.io/kwok", "commands": {"kwok": "sigs.k8s.io/kwok/cmd/kwok"}},
    "helm": {"module": "helm.sh/helm/v3", "commands": {
        "helm": "helm.sh/helm/v3/cmd/helm"}},
    # The version the kuadrant-operator 1.4.3 chart deploys. The Go checksum
    # database has no record of github.com/kuadrant modules: the committed
    # go.sum is what pins their hashes (GONOSUMDB below).
    "authorino": {"module": "github.com/kuadrant/authorino", "commands": {
        "authorino": "github.com/kuadrant/authorino"},
        "env": {"GONOSUMDB": "github.com/kuadrant/*", "CGO_ENABLED": "0"}},
    # The real Gateway API controller, run out of cluster (testworld.envoy_gateway).
    "envoy-gateway": {"module": "github.com/envoyproxy/gateway", "dir": "envoy_gateway", "commands": {
        "envoy-gateway": "github.com/envoyproxy/gateway/cmd/envoy-gateway"}},
    # The real Kuadrant operators, out of cluster (testworld.kuadrant): kuadrant-operator v1.5.2 and the
    # limitador-operator it deploys; authorino-operator v0.25.1 (the chart deploys v0.25.2, which the Go module
    # proxy does not serve). "version_var" gets the pinned version stamped in (their logs show it).
    "kuadrant-operator": {"module": "github.com/kuadrant/kuadrant-operator", "dir": "kuadrant_operator",
                          "commands": {"kuadrant-operator": "github.com/kuadrant/kuadrant-operator/cmd"},
                          "env": {"GONOSUMDB": "github.com/kuadrant/*", "CGO_ENABLED": "0"},
                          "version_var": "main.version"},
    "limitador-operator": {"module": "github.com/kuadrant/limitador-operator", "dir": "limitador_operator",
                           "commands": {"limitador-operator": "github.com/kuadrant/limitador-operator"},
                           "env": {"GONOSUMDB": "github.com/kuadrant/*", "CGO_ENABLED": "0"},
                           "version_var": "main.version"},
    "authorino-operator": {"module": "github.com/kuadrant/authorino-operator", "dir": "authorino_operator",
                           "commands": {"authorino-operator": "github.com/kuadrant/authorino-operator"},
                           "env": {"GONOSUMDB": "github.com/kuadrant/*", "CGO_ENABLED": "0"},
                           "version_var": "main.version"},
    # MetalLB's controller (the LoadBalancer address allocator; no speaker), the version MicroK8s 1.35's metallb
    # addon deploys, run out of cluster (testworld.metallb).
    "metallb": {"module": "go.universe.tf/metallb", "commands": {
        "metallb-controller": "go.universe.tf/metallb/controller"}, "env": {"CGO_ENABLED": "0"}},
    # The endpoint picker of GAIE v1.5.0, one per InferencePool (testworld.endpoint_pickers).
    "endpoint-picker": {"module": "sigs.k8s.io/gateway-api-inference-extension", "dir": "endpoint_picker",
                        "commands": {"epp": "sigs.k8s.io/gateway-api-inference-extension/cmd/epp"},
                        "env": {"CGO_ENABLED": "0"}},
    # The vLLM simulator llm-d's end-to-end tests use, one per model pod (testworld.model_servers).
    "inference-sim": {"module": "github.com/llm-d/llm-d-inference-sim", "dir": "inference_sim", "commands": {
        "llm-d-inference-sim": "github.com/llm-d/llm-d-inference-sim/cmd/llm-d-inference-sim"},
        "env": {"CGO_ENABLED": "0"}},
    # The real AIGatewayRoute controller and Envoy Gateway extension server, out of cluster (testworld.ai_gateway).
    "ai-gateway": {"module": "github.com/envoyproxy/ai-gateway", "dir": "ai_gateway", "commands": {
        "ai-gateway-controller": "github.com/envoyproxy/ai-gateway/cmd/controller"}},
    # Its data plane, the ext_proc server Envoy's filters call, from the same module (testworld.ai_gateway_extproc).
    # Both built without a version stamp, so both say "dev" -- the filter config's version must match the extproc's.
    "ai-gateway-extproc": {"module": "github.com/envoyproxy/ai-gateway", "dir": "ai_gateway", "commands": {
        "ai-gateway-extproc": "github.com/envoyproxy/ai-gateway/cmd/extproc"}, "env": {"CGO_ENABLED": "0"}},
}


def module_dir(component: str) -> Path:
    """The wrapper module a component is built from (``go/<dir or component>``)."""
    return GO_DIR / COMPONENTS[component].get("dir", component)


def pinned_version(component: str) -> str:
    gomod = (module_dir(component) / "go.mod").read_text()
    module = COMPONENTS[component]["module"]
    m = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", gomod, re.M)
    if not m:
        raise TestWorldError(f"{module_dir(component) / 'go.mod'} does not require {module}")
    return m.group(1)


def ldflags(component: str) -> str:
    """Linker flags; Kubernetes binaries get their real version stamped in.

    Without it kube-apiserver reports v0.0.0-master and Helm refuses charts
    that declare a kubeVersion constraint (e.g. kuadrant-operator).
    """
    flags = "-s -w"
    if component == "authorino":
        flags += f" -X main.version={pinned_version(component)}"
    if COMPONENTS[component].get("version_var"):
        flags += f" -X {COMPONENTS[component]['version_var']}={pinned_version(component)}"
    if component in ("kube", "kube-controllers"):
        version = pinned_version(component)
        major, minor = version.lstrip("v").split(".")[:2]
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
            flags += (f" -X {pkg}.gitVersion={version} -X {pkg}.gitMajor={major}"
                      f" -X {pkg}.gitMinor={minor} -X {pkg}.gitTreeState=clean")
    return flags


def component_dir(component: str) -> Path:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((module_dir(component) / name).read_bytes())
    if ldflags(component) != "-s -w":
        digest.update(ldflags(component).encode())
    return CACHE / "bin" / f"{component}-{pinned_version(component)}-{digest.hexdigest()[:12]}"


def binary(name: str) -> Path:
    for component, spec in COMPONENTS.items():
        if name in spec["commands"]:
            return component_dir(component) / name
    raise KeyError(name)


def build(components=None) -> None:
    """Build the pinned binaries once; concurrent callers wait on a lock."""
    (CACHE / "bin").mkdir(parents=True, exist_ok=True)
    with open(CACHE / "bin" / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for component in components or COMPONENTS:
            _build_one(component)


def _build_one(component: str) -> None:
    target = component_dir(component)
    commands = COMPONENTS[component]["commands"]
    if all((target / c).exists() for c in commands):
        return
    go = shutil.which("go")
    if not go:
        raise TestWorldError(
            "the Go toolchain is missing: `go` is not on PATH. Install Go >= 1.25 "
            "(it builds kube-apiserver, etcd, kubectl, helm and Authorino from Go modules once; "
            f"the binaries are then cached in {CACHE / 'bin'})")
    tmp = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-buildvcs=false", **COMPONENTS[component].get("env", {}))
    log(f"building {', '.join(commands)} ({COMPONENTS[component]['module']} "
        f"{pinned_version(component)}); the first build takes several minutes")
    started = time.monotonic()
    for name, package in commands.items():
        proc = subprocess.run(
            [go, "build", "-trimpath", "-ldflags", ldflags(component), "-o", str(tmp / name), package],
            cwd=module_dir(component), env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise TestWorldError(f"go build of {package} failed:\n{proc.stderr[-4000:]}")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    log(f"built {component} in {time.monotonic() - started:.0f}s -> {target}")
