"""A real, local Kubernetes control plane for tests and the demo.

kube-apiserver + etcd on 127.0.0.1, built from Go modules (pins in the go.mod
files next to this script), with TLS, RBAC, ServiceAccount token signing, the
normal admission plugins (ValidatingAdmissionPolicy included) and an audit log
of every write (tests use it to prove that a rerun sends no write).

Usage:
    controlplane.py build                 build/cache kube-apiserver, kubectl, etcd, helm, authorino
    controlplane.py up [--port N]         start etcd + kube-apiserver, wait for /readyz
    controlplane.py down [--purge]        stop both, leave no process behind
    controlplane.py status                say what runs where (exit 1 if not running)
    controlplane.py kubeconfig            print the admin kubeconfig path
    controlplane.py env                   print shell exports (KUBECONFIG, PATH)
    controlplane.py install-crds DIR      server-side apply every CRD under DIR

Only the Python standard library and the openssl CLI are needed; Go is needed
the first time (binaries are cached under $TOKENLABS_CACHE, default
~/.cache/tokenlabs, keyed by version and go.sum digest).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_STATE = REPO / ".cache" / "controlplane"
CACHE = Path(os.environ.get("TOKENLABS_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tokenlabs")

# Each Go wrapper module and the commands it builds.
COMPONENTS = {
    "kube": {"module": "k8s.io/kubernetes", "commands": {
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kubectl": "k8s.io/kubernetes/cmd/kubectl"}},
    "etcd": {"module": "go.etcd.io/etcd/server/v3", "commands": {
        "etcd": "go.etcd.io/etcd/server/v3"}},
    "helm": {"module": "helm.sh/helm/v3", "commands": {
        "helm": "helm.sh/helm/v3/cmd/helm"}},
    # The version the kuadrant-operator 1.4.3 chart deploys. The Go checksum
    # database has no record of github.com/kuadrant modules: the committed
    # go.sum is what pins their hashes (GONOSUMDB below).
    "authorino": {"module": "github.com/kuadrant/authorino", "commands": {
        "authorino": "github.com/kuadrant/authorino"},
        "env": {"GONOSUMDB": "github.com/kuadrant/*", "CGO_ENABLED": "0"}},
}

# Components `up` needs; the others are built on first use.
CONTROL_PLANE = ("kube", "etcd")

AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
  - level: None
"""


class ControlPlaneError(Exception):
    """A failure with a message meant for the operator."""


def log(msg: str) -> None:
    print(f"controlplane: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- build
def pinned_version(component: str) -> str:
    gomod = (HERE / component / "go.mod").read_text()
    module = COMPONENTS[component]["module"]
    m = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", gomod, re.M)
    if not m:
        raise ControlPlaneError(f"{HERE / component / 'go.mod'} does not require {module}")
    return m.group(1)


def ldflags(component: str) -> str:
    """Linker flags; Kubernetes binaries get their real version stamped in.

    Without it kube-apiserver reports v0.0.0-master and Helm refuses charts
    that declare a kubeVersion constraint (e.g. kuadrant-operator).
    """
    flags = "-s -w"
    if component == "authorino":
        flags += f" -X main.version={pinned_version(component)}"
    if component == "kube":
        version = pinned_version(component)
        major, minor = version.lstrip("v").split(".")[:2]
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
            flags += (f" -X {pkg}.gitVersion={version} -X {pkg}.gitMajor={major}"
                      f" -X {pkg}.gitMinor={minor} -X {pkg}.gitTreeState=clean")
    return flags


def component_dir(component: str) -> Path:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((HERE / component / name).read_bytes())
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
        raise ControlPlaneError(
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
            cwd=HERE / component, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ControlPlaneError(f"go build of {package} failed:\n{proc.stderr[-4000:]}")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    log(f"built {component} in {time.monotonic() - started:.0f}s -> {target}")


# --------------------------------------------------------------------------- state
class State:
    def __init__(self, root: Path):
        self.root = root
        self.pki = root / "pki"
        self.data = root / "etcd-data"
        self.logs = root / "logs"
        self.file = root / "state.json"

    def load(self) -> dict:
        try:
            return json.loads(self.file.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def save(self, content: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.file.write_text(json.dumps(content, indent=2))

    @property
    def kubeconfig(self) -> Path:
        return self.root / "admin.kubeconfig"


def openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ControlPlaneError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.strip()}")


def make_pki(pki: Path) -> None:
    if (pki / "admin.crt").exists():
        return
    if not shutil.which("openssl"):
        raise ControlPlaneError("the openssl CLI is missing (needed once to create the control plane's certificates)")
    pki.mkdir(parents=True, exist_ok=True)
    os.chmod(pki, 0o700)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-days", "3650", "-subj", "/CN=tokenlabs-local-ca", cwd=pki)
    (pki / "apiserver.ext").write_text(
        "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,"
        "DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n"
        "extendedKeyUsage=serverAuth\n")
    (pki / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, subj, ext in (("apiserver", "/CN=kube-apiserver", "apiserver.ext"),
                            ("admin", "/O=system:masters/CN=tokenlabs-admin", "client.ext")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", subj, cwd=pki)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "3650", "-extfile", ext, cwd=pki)
    openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    for key in pki.glob("*.key"):
        os.chmod(key, 0o600)


def write_kubeconfig(state: State, port: int) -> None:
    pki = state.pki
    content = f"""apiVersion: v1
kind: Config
clusters:
- name: tokenlabs-local
  cluster:
    server: https://127.0.0.1:{port}
    certificate-authority: {pki / 'ca.crt'}
users:
- name: tokenlabs-admin
  user:
    client-certificate: {pki / 'admin.crt'}
    client-key: {pki / 'admin.key'}
contexts:
- name: tokenlabs-local
  context: {{cluster: tokenlabs-local, user: tokenlabs-admin}}
current-context: tokenlabs-local
"""
    state.kubeconfig.write_text(content)
    os.chmod(state.kubeconfig, 0o600)


# --------------------------------------------------------------------------- processes
def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``port`` can be bound on ``host`` ("" = every interface)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alive(pid: int | None, name: str) -> bool:
    """True if ``pid`` runs the binary ``name`` (and is not a zombie)."""
    if not pid:
        return False
    for attempt in range(20):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        if state in ("Z", "X"):
            return False
        if cmdline:
            return os.path.basename(cmdline.split(b"\0")[0].decode()) == name
        # Just forked: the new image's argv is not visible yet.
        time.sleep(0.01 * (attempt + 1))
    return True


def spawn(state: State, name: str, argv: list[str], env: dict | None = None) -> int:
    """Start ``argv`` in its own session, logging to ``logs/<name>.log``; returns the pid."""
    state.logs.mkdir(parents=True, exist_ok=True)
    with open(state.logs / f"{name}.log", "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True, close_fds=True)
    return proc.pid


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def stop_pid(pid: int, name: str, timeout: float = 15.0) -> None:
    if not alive(pid, name):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid, name):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not alive(pid, name):
            return
        time.sleep(0.1)
    raise ControlPlaneError(f"{name} (pid {pid}) did not stop")


def readyz(state: State, port: int) -> tuple[bool, str]:
    ctx = ssl.create_default_context(cafile=str(state.pki / "ca.crt"))
    ctx.load_cert_chain(str(state.pki / "admin.crt"), str(state.pki / "admin.key"))
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=ctx, timeout=3) as resp:
            return resp.status == 200, resp.read().decode()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
        return False, str(exc)


def up(state: State, port: int, timeout: float) -> dict:
    current = state.load()
    if current and alive(current.get("apiserver_pid"), "kube-apiserver"):
        if readyz(state, current["port"])[0]:
            log(f"already running on https://127.0.0.1:{current['port']}")
            return current
        down(state, purge=False)
    if port == 0:
        # A free port picked here can be taken by another process before etcd or kube-apiserver
        # binds it: try again with new ports when that happens.
        for attempt in range(3):
            try:
                return _start(state, free_port(), timeout)
            except ControlPlaneError as exc:
                if "address already in use" not in str(exc) or attempt == 2:
                    raise
                log("a picked port was taken meanwhile; retrying with new ports")
    if not port_free(port):
        raise ControlPlaneError(
            f"port {port} on 127.0.0.1 is already in use; stop what listens there or pass --port "
            "with a free port (--port 0 picks one)")
    return _start(state, port, timeout)


def _start(state: State, port: int, timeout: float) -> dict:
    build(CONTROL_PLANE)
    make_pki(state.pki)
    state.data.mkdir(parents=True, exist_ok=True)
    os.chmod(state.data, 0o700)
    (state.root / "audit-policy.yaml").write_text(AUDIT_POLICY)
    etcd_client, etcd_peer = free_port(), free_port()
    etcd_pid = spawn(state, "etcd", [
        str(binary("etcd")), "--name=tokenlabs", f"--data-dir={state.data}",
        f"--listen-client-urls=http://127.0.0.1:{etcd_client}",
        f"--advertise-client-urls=http://127.0.0.1:{etcd_client}",
        f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
        f"--initial-cluster=tokenlabs=http://127.0.0.1:{etcd_peer}",
        "--listen-metrics-urls=", "--log-level=warn",
        # Test fixture only: no fsync keeps benchmarks about our code, not the disk.
        "--unsafe-no-fsync", "--quota-backend-bytes=4294967296"])
    info = {"port": port, "etcd_port": etcd_client, "etcd_pid": etcd_pid, "apiserver_pid": None,
            "kubeconfig": str(state.kubeconfig), "audit_log": str(state.logs / "audit.log")}
    state.save(info)
    pki = state.pki
    apiserver_pid = spawn(state, "kube-apiserver", [
        str(binary("kube-apiserver")),
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={port}",
        f"--etcd-servers=http://127.0.0.1:{etcd_client}",
        f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",  # on top of the default set (incl. ValidatingAdmissionPolicy)
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--api-audiences=https://kubernetes.default.svc.cluster.local",
        "--service-cluster-ip-range=10.96.0.0/16", "--allow-privileged=true",
        f"--audit-policy-file={state.root / 'audit-policy.yaml'}", f"--audit-log-path={state.logs / 'audit.log'}",
        "--audit-log-maxsize=200", "--audit-log-maxbackup=1",
        "--profiling=false", "--v=0"])
    info["apiserver_pid"] = apiserver_pid
    state.save(info)
    write_kubeconfig(state, port)
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        for name, pid in (("etcd", etcd_pid), ("kube-apiserver", apiserver_pid)):
            if not alive(pid, name):
                detail = tail(state.logs / f"{name}.log")
                down(state, purge=False)
                raise ControlPlaneError(f"{name} exited during start-up; last log lines:\n{detail}")
        ok, last = readyz(state, port)
        if ok:
            log(f"ready on https://127.0.0.1:{port} (kubeconfig {state.kubeconfig})")
            return info
        time.sleep(0.5)
    detail = tail(state.logs / "kube-apiserver.log")
    down(state, purge=False)
    raise ControlPlaneError(f"kube-apiserver not ready after {timeout:.0f}s ({last}); last log lines:\n{detail}")


def down(state: State, purge: bool) -> None:
    # Authorino (authorino.py) watches this control plane: stop it first.
    import authorino  # pylint: disable=import-outside-toplevel
    authorino.down(state)
    info = state.load()
    for name, key in (("kube-apiserver", "apiserver_pid"), ("etcd", "etcd_pid")):
        pid = info.get(key)
        if pid:
            stop_pid(pid, name)
    if info:
        info["apiserver_pid"] = info["etcd_pid"] = None
        state.save(info)
    if purge:
        shutil.rmtree(state.root, ignore_errors=True)


def status(state: State) -> bool:
    info = state.load()
    running = alive(info.get("apiserver_pid"), "kube-apiserver") and alive(info.get("etcd_pid"), "etcd")
    if not running:
        print(f"stopped (state {state.root})")
        return False
    ok, detail = readyz(state, info["port"])
    print(f"{'ready' if ok else 'not ready'}: https://127.0.0.1:{info['port']} "
          f"apiserver pid {info['apiserver_pid']}, etcd pid {info['etcd_pid']}, kubeconfig {state.kubeconfig}")
    return ok


def kubectl(state: State, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(binary("kubectl")), f"--kubeconfig={state.kubeconfig}", *args],
                          capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise ControlPlaneError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def install_crds(state: State, mirror: Path) -> None:
    crd_dir = mirror / "crds" if (mirror / "crds").is_dir() else mirror
    files = sorted(p for p in crd_dir.rglob("*.yaml") if p.is_file())
    if not crd_dir.is_dir() or not files:
        raise ControlPlaneError(
            f"CRD mirror {mirror} not found or holds no *.yaml files; pass the mirror directory "
            "(e.g. ../shared, containing crds/<project>/*.yaml)")
    if not status(state):
        raise ControlPlaneError("the control plane is not running; run `controlplane.py up` first")
    args = ["apply", "--server-side", "--force-conflicts", "--field-manager=tokenlabs-controlplane"]
    for f in files:
        args += ["-f", str(f)]
    kubectl(state, *args)
    # A CRD that was just created may have no status yet; `kubectl wait` then errors instead of waiting.
    deadline = time.monotonic() + 60
    while True:
        proc = kubectl(state, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all", check=False)
        if proc.returncode == 0:
            break
        if time.monotonic() > deadline:
            raise ControlPlaneError(f"CRDs from {crd_dir} not Established: {proc.stderr.strip()}")
        time.sleep(0.5)
    log(f"{len(files)} CRDs from {crd_dir} established")


NODE_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def node_object(name: str, gpus: int) -> dict:
    """A Node as a DGX Spark's kubelet registers it (arm64, one GB10 GPU offered by the device plugin)."""
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "arm64",
            "beta.kubernetes.io/arch": "arm64", "beta.kubernetes.io/os": "linux", "nvidia.com/gpu.present": "true"}},
        "status": {
            "capacity": {"cpu": "20", "memory": "128Gi", "pods": "110", "nvidia.com/gpu": str(gpus)},
            "allocatable": {"cpu": "20", "memory": "125Gi", "pods": "110", "nvidia.com/gpu": str(gpus)},
            "nodeInfo": {"architecture": "arm64", "operatingSystem": "linux", "osImage": "DGX OS 7 (stand-in)",
                         "kubeletVersion": pinned_version("kube"), "containerRuntimeVersion": "containerd://stand-in",
                         "kernelVersion": "", "kubeProxyVersion": "", "machineID": "", "systemUUID": "",
                         "bootID": ""},
        },
    }


def catalog_nodes(files: list[Path]) -> list[str]:
    """The nodes of ``tokenlabs_models`` as the last of ``files`` that defines it sets it."""
    import yaml  # pylint: disable=import-outside-toplevel
    models = None
    for path in files:
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ControlPlaneError(f"cannot read the catalog from {path}: {exc}")
        if isinstance(doc, dict) and "tokenlabs_models" in doc:
            models = doc["tokenlabs_models"]
    if files and models is None:
        raise ControlPlaneError(f"none of {', '.join(map(str, files))} defines tokenlabs_models")
    return sorted({m["node"] for m in models or [] if isinstance(m, dict) and m.get("node")})


def register_nodes(state: State, names: list[str], gpus: int = 1) -> None:
    """Register Node objects the way a kubelet would (there is no kubelet here); existing ones are kept."""
    bad = [n for n in names if not NODE_NAME_RE.match(n) or len(n) > 253]
    if bad or not names:
        raise ControlPlaneError(f"node names must be DNS subdomains (a-z, 0-9, '-', '.'), got {bad or names}")
    if not status(state):
        raise ControlPlaneError("the control plane is not running; run `controlplane.py up` first")
    existing = set(kubectl(state, "get", "nodes", "-o", "name").stdout.split())
    for name in names:
        if "node/" + name in existing:
            continue
        proc = subprocess.run([str(binary("kubectl")), f"--kubeconfig={state.kubeconfig}", "create", "-f", "-"],
                              input=json.dumps(node_object(name, gpus)), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ControlPlaneError(f"registering node {name} failed: {proc.stderr.strip()}")
    log(f"nodes registered: {', '.join(names)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--state-dir", type=Path, default=Path(os.environ.get("TOKENLABS_CONTROLPLANE_DIR", DEFAULT_STATE)))
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build")
    p_up = sub.add_parser("up")
    p_up.add_argument("--port", type=int, default=int(os.environ.get("TOKENLABS_APISERVER_PORT", "6443")),
                      help="kube-apiserver port on 127.0.0.1 (0 = pick a free one)")
    p_up.add_argument("--timeout", type=float, default=90.0)
    p_down = sub.add_parser("down")
    p_down.add_argument("--purge", action="store_true", help="also delete certificates, etcd data and logs")
    sub.add_parser("status")
    sub.add_parser("kubeconfig")
    sub.add_parser("env")
    p_crds = sub.add_parser("install-crds")
    p_crds.add_argument("mirror", type=Path, help="mirror directory (holding crds/) or a CRD directory")
    p_nodes = sub.add_parser("register-nodes", help="register Node objects as a kubelet would (no kubelet here)")
    p_nodes.add_argument("names", nargs="*", help="node names")
    p_nodes.add_argument("--catalog", type=Path, nargs="+", default=[],
                         help="YAML files defining tokenlabs_models (the last that does wins): register its nodes")
    p_nodes.add_argument("--gpus", type=int, default=1, help="nvidia.com/gpu each node offers (default 1)")
    args = parser.parse_args(argv)
    state = State(args.state_dir.resolve())
    try:
        if args.command == "build":
            build()
            for spec in COMPONENTS.values():
                for name in spec["commands"]:
                    print(binary(name))
        elif args.command == "up":
            if not 0 <= args.port <= 65535:
                raise ControlPlaneError(f"--port {args.port} is not a TCP port (0-65535)")
            up(state, args.port, args.timeout)
        elif args.command == "down":
            down(state, args.purge)
        elif args.command == "status":
            return 0 if status(state) else 1
        elif args.command == "kubeconfig":
            if not state.kubeconfig.exists():
                raise ControlPlaneError(f"no kubeconfig in {state.root}; run `up` first")
            print(state.kubeconfig)
        elif args.command == "env":
            bindir = sorted({str(binary(n).parent) for s in COMPONENTS.values() for n in s["commands"]})
            print(f"export KUBECONFIG={state.kubeconfig}")
            print(f"export PATH={':'.join(bindir)}:$PATH")
        elif args.command == "install-crds":
            install_crds(state, args.mirror.resolve())
        elif args.command == "register-nodes":
            register_nodes(state, list(args.names) + catalog_nodes(args.catalog), args.gpus)
    except ControlPlaneError as exc:
        log(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        down(state, purge=False)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
