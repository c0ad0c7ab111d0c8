"""The local Kubernetes control plane: kube-apiserver + etcd on 127.0.0.1.

Built from Go modules (testworld/go/kube, testworld/go/etcd; see gobuild), with TLS, ``Node,RBAC``
authorization, ServiceAccount token signing, the normal admission plugins (ValidatingAdmissionPolicy
included) and an audit log of every write (tests use it to prove that a rerun sends no write).
Only the standard library and the openssl CLI are needed besides the built binaries.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from testworld import release_sets
from testworld.base import (
    State, TestWorldError, alive, free_port, http_ok, log, passes_ready, port_free, process_status, spawn,
    start_process, stop_pid, tail)
from testworld.gobuild import binary, build, pinned_version

NAME = "controlplane"

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


def openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise TestWorldError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.strip()}")


def make_pki(pki: Path) -> None:
    if (pki / "admin.crt").exists():
        return
    if not shutil.which("openssl"):
        raise TestWorldError("the openssl CLI is missing (needed once to create the control plane's certificates)")
    pki.mkdir(parents=True, exist_ok=True)
    os.chmod(pki, 0o700)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-days", "3650", "-subj", "/CN=tokenlabs-local-ca", cwd=pki)
    (pki / "apiserver.ext").write_text(
        "subjectAltName=IP:127.0.0.1,IP:127.96.0.1,DNS:localhost,DNS:kubernetes,"
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


def identity_kubeconfig(state: State, name: str, subject: str) -> Path:
    """A kubeconfig of its own for a component (client certificate ``subject``, signed by the local CA).

    Each controller of the test world talks to the API server as itself, so the audit log tells its
    writes from the collection's (``user.username`` is the certificate's CN).
    """
    info = state.load()
    if not info.get("port"):
        raise TestWorldError("the control plane has not been started in this state directory; "
                             "run `python -m testworld up` first")
    pki = state.pki
    if not (pki / f"{name}.crt").exists():
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", subject, cwd=pki)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "3650", "-extfile", "client.ext", cwd=pki)
        os.chmod(pki / f"{name}.key", 0o600)
    path = state.root / "kubeconfigs" / f"{name}.kubeconfig"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(kubeconfig_text(state, info["port"], name))
    os.chmod(path, 0o600)
    return path


def start_kube_binary(state: State, name: str, subject: str, extra_args: list[str], timeout: float) -> dict:
    """Start a Kubernetes binary of the ``kube-controllers`` build (kube-scheduler, kube-controller-manager) as
    its own user ``subject``, leader election off, its secure port (health only) on 127.0.0.1."""
    build(["kube-controllers"])
    kubeconfig = identity_kubeconfig(state, name, subject)
    port = state.load_component(name).get("port") or free_port()
    argv = [str(binary(name)), f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}", "--leader-elect=false", "--bind-address=127.0.0.1",
            f"--secure-port={port}", f"--cert-dir={state.root / 'certs' / name}", *extra_args, "--v=1"]
    return start_process(state, name, argv, kube_binary_ready(port), timeout, info={"port": port})


def start_standin(state: State, name: str, module: str, extra_args: list[str], timeout: float) -> dict:
    """Start a Python stand-in (``python -m testworld.<module>``, a :func:`testworld.base.run_passes` loop) as its
    own user ``system:<name>-standin``; ready once a pass has finished since the start."""
    kubeconfig = identity_kubeconfig(state, name, f"/O=system:masters/CN=system:{name}-standin")
    status_file = state.root / f"{name}.status.json"
    argv = [sys.executable, "-m", f"testworld.{module}", f"--kubeconfig={kubeconfig}", f"--status-file={status_file}",
            *extra_args]
    return start_process(state, name, argv, passes_ready(status_file, time.time()), timeout,
                         binary_name=Path(sys.executable).name)


def kube_binary_ready(port: int):
    return lambda: http_ok(f"https://127.0.0.1:{port}/healthz")


def kube_binary_status(state: State, name: str) -> bool:
    port = state.load_component(name).get("port")
    return process_status(state, name, kube_binary_ready(port) if port else None)


def kubeconfig_text(state: State, port: int, user: str) -> str:
    pki = state.pki
    return f"""apiVersion: v1
kind: Config
clusters:
- name: tokenlabs-local
  cluster:
    server: https://127.0.0.1:{port}
    certificate-authority: {pki / 'ca.crt'}
users:
- name: {user}
  user:
    client-certificate: {pki / f'{user}.crt'}
    client-key: {pki / f'{user}.key'}
contexts:
- name: tokenlabs-local
  context: {{cluster: tokenlabs-local, user: {user}}}
current-context: tokenlabs-local
"""


def write_kubeconfig(state: State, port: int) -> None:
    state.kubeconfig.write_text(kubeconfig_text(state, port, "admin"))
    os.chmod(state.kubeconfig, 0o600)


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
            log(f"already running on https://127.0.0.1:{current['port']}", NAME)
            return current
        down(state, purge=False)
    if port == 0:
        # A free port picked here can be taken by another process before etcd or kube-apiserver
        # binds it: try again with new ports when that happens.
        for attempt in range(3):
            try:
                return _start(state, free_port(), timeout)
            except TestWorldError as exc:
                if "address already in use" not in str(exc) or attempt == 2:
                    raise
                log("a picked port was taken meanwhile; retrying with new ports", NAME)
    if not port_free(port):
        raise TestWorldError(
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
        "--service-cluster-ip-range=127.96.0.0/16", "--allow-privileged=true",
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
                raise TestWorldError(f"{name} exited during start-up; last log lines:\n{detail}")
        ok, last = readyz(state, port)
        if ok:
            log(f"ready on https://127.0.0.1:{port} (kubeconfig {state.kubeconfig})", NAME)
            return info
        time.sleep(0.5)
    detail = tail(state.logs / "kube-apiserver.log")
    down(state, purge=False)
    raise TestWorldError(f"kube-apiserver not ready after {timeout:.0f}s ({last}); last log lines:\n{detail}")


def down(state: State, purge: bool = False) -> None:
    """Stop kube-apiserver and etcd by pid (``python -m testworld down`` stops the components that
    watch the control plane first); ``purge`` also deletes certificates, etcd data and logs."""
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
        raise TestWorldError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def install_crds(state: State, mirror: Path, release_set: str = release_sets.DEFAULT_SET) -> None:
    """Server-side apply the CRDs of a mirror's release set (a mirror holds ``crds/``), or of one directory."""
    crd_dir = mirror / "crds" if (mirror / "crds").is_dir() else mirror
    dirs = release_sets.crd_dirs(mirror, release_set) if crd_dir != mirror else [mirror]
    files = sorted(p for d in dirs for p in d.rglob("*.yaml") if p.is_file())
    if not crd_dir.is_dir() or not files:
        raise TestWorldError(
            f"CRD mirror {mirror} not found or holds no *.yaml files; pass the mirror directory "
            "(e.g. ../shared, containing crds/<project>/*.yaml)")
    if not status(state):
        raise TestWorldError("the control plane is not running; run `python -m testworld up` first")
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
            raise TestWorldError(f"CRDs from {crd_dir} not Established: {proc.stderr.strip()}")
        time.sleep(0.5)
    log(f"{len(files)} CRDs from {', '.join(str(d) for d in dirs)} established", NAME)


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


# What the inventory's hosts report when their kubelets register (the cluster of `up cluster`): a DGX Spark
# (GB10: 20 Arm cores, 128 GB unified memory), labelled and tainted as roles/microk8s does it; its
# nvidia.com/gpu comes from the device plugin (testworld.device_plugin), not from registration.
GPU_NODE_LABELS = {"tokenlabs.io/accelerator": "nvidia-gb10", "nvidia.com/gpu.present": "true"}
GPU_NODE_TAINTS = [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]


def inventory_node_object(name: str, gpu_worker: bool) -> dict:
    """A Node as the inventory's host registers it: a GB10 GPU worker, or a CPU controller."""
    if gpu_worker:
        node = node_object(name, 0)
        node["metadata"]["labels"].update(GPU_NODE_LABELS)
        node["spec"] = {"taints": [dict(t) for t in GPU_NODE_TAINTS]}
        for key in ("capacity", "allocatable"):
            node["status"][key].pop("nvidia.com/gpu")
        return node
    node = node_object(name, 0)
    labels = node["metadata"]["labels"]
    labels.pop("nvidia.com/gpu.present")
    labels.update({"kubernetes.io/arch": "amd64", "beta.kubernetes.io/arch": "amd64"})
    node["status"].update({"capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                           "allocatable": {"cpu": "8", "memory": "31Gi", "pods": "110"}})
    node["status"]["nodeInfo"].update({"architecture": "amd64", "osImage": "Ubuntu 24.04 (stand-in)"})
    return node


def inventory_hosts(hosts_file: Path) -> dict:
    """``{host: is_gpu_worker}`` of an inventory's microk8s_controllers and microk8s_gpu_workers groups."""
    import yaml  # pylint: disable=import-outside-toplevel
    try:
        doc = yaml.safe_load(hosts_file.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise TestWorldError(f"cannot read the inventory {hosts_file}: {exc}")
    groups = (((doc.get("all") or {}).get("children") or {}).get("microk8s") or {}).get("children") or {}
    hosts = {name: False for name in ((groups.get("microk8s_controllers") or {}).get("hosts") or {})}
    hosts.update({name: True for name in ((groups.get("microk8s_gpu_workers") or {}).get("hosts") or {})})
    if not hosts:
        raise TestWorldError(f"{hosts_file} has no hosts in microk8s_controllers or microk8s_gpu_workers")
    return hosts


def register_inventory_nodes(state: State, hosts_file: Path) -> list[str]:
    """Register the inventory's hosts as their kubelets would (KWOK then keeps them Ready)."""
    if not status(state):
        raise TestWorldError("the control plane is not running; run `python -m testworld up` first")
    existing = set(kubectl(state, "get", "nodes", "-o", "name").stdout.split())
    hosts = inventory_hosts(hosts_file)
    for name, gpu_worker in sorted(hosts.items()):
        if "node/" + name in existing:
            continue
        proc = subprocess.run([str(binary("kubectl")), f"--kubeconfig={state.kubeconfig}", "create", "-f", "-"],
                              input=json.dumps(inventory_node_object(name, gpu_worker)), capture_output=True,
                              text=True, check=False)
        if proc.returncode != 0:
            raise TestWorldError(f"registering node {name} failed: {proc.stderr.strip()}")
    log(f"inventory nodes registered: {', '.join(sorted(hosts))}", NAME)
    return sorted(hosts)


def catalog_nodes(files: list[Path]) -> list[str]:
    """The nodes of ``tokenlabs_models`` as the last of ``files`` that defines it sets it."""
    import yaml  # pylint: disable=import-outside-toplevel
    models = None
    for path in files:
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise TestWorldError(f"cannot read the catalog from {path}: {exc}")
        if isinstance(doc, dict) and "tokenlabs_models" in doc:
            models = doc["tokenlabs_models"]
    if files and models is None:
        raise TestWorldError(f"none of {', '.join(map(str, files))} defines tokenlabs_models")
    return sorted({m["node"] for m in models or [] if isinstance(m, dict) and m.get("node")})


def register_nodes(state: State, names: list[str], gpus: int = 1) -> None:
    """Register Node objects the way a kubelet would (there is no kubelet here); existing ones are kept."""
    bad = [n for n in names if not NODE_NAME_RE.match(n) or len(n) > 253]
    if bad or not names:
        raise TestWorldError(f"node names must be DNS subdomains (a-z, 0-9, '-', '.'), got {bad or names}")
    if not status(state):
        raise TestWorldError("the control plane is not running; run `python -m testworld up` first")
    existing = set(kubectl(state, "get", "nodes", "-o", "name").stdout.split())
    for name in names:
        if "node/" + name in existing:
            continue
        proc = subprocess.run([str(binary("kubectl")), f"--kubeconfig={state.kubeconfig}", "create", "-f", "-"],
                              input=json.dumps(node_object(name, gpus)), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise TestWorldError(f"registering node {name} failed: {proc.stderr.strip()}")
    log(f"nodes registered: {', '.join(names)}", NAME)
