"""A handle on a local control plane for tests (kubectl, ansible-playbook, audit-log "no write" proofs).

Used by tests/conftest.py's fixtures and by tests that start a control plane of their own.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / ".cache" / "collections"
# The hosts whose kubelets the test world's clusters register (KWOK keeps them Ready): the reference
# topology, whose GPU workers are the nodes of inventory/local's catalog.
REFERENCE_HOSTS = REPO / "inventory" / "example" / "hosts.yml"

from testworld import audit
from testworld.gobuild import binary


def mirror_path() -> Path:
    proc = subprocess.run([str(REPO / "scripts" / "mirror-path")], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.exit(proc.stderr.strip(), returncode=2)
    return Path(proc.stdout.strip())


def _bin(name: str) -> str:
    return str(binary(name))


class ControlPlane:
    """Handle on the session's control plane."""

    def __init__(self, state_dir: Path, info: dict):
        self.state_dir = state_dir
        self.port = info["port"]
        self.kubeconfig = info["kubeconfig"]
        self.audit_log = Path(info["audit_log"])
        self.kubectl_bin = _bin("kubectl")
        self.helm_bin = _bin("helm")
        self.mirror = mirror_path()

    @property
    def env(self) -> dict:
        """Environment for ansible-playbook / kubectl / helm pointed at this control plane."""
        env = dict(os.environ)
        bindir = os.path.dirname(self.kubectl_bin) + os.pathsep + os.path.dirname(self.helm_bin)
        env.update({
            "KUBECONFIG": self.kubeconfig,
            "K8S_AUTH_KUBECONFIG": self.kubeconfig,
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            # ansible.cfg names no inventory (a bare run must not pick the test one): tests use it explicitly.
            "ANSIBLE_INVENTORY": str(REPO / "inventory" / "local"),
            "ANSIBLE_COLLECTIONS_PATH": f"{COLLECTIONS}:{os.path.expanduser('~/.ansible/collections')}",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "TOKENLABS_MIRROR": str(self.mirror),
            # inventory/local's key directory: this control plane's, not the demo's .cache/tenant-keys
            "TOKENLABS_TENANT_KEY_DIR": str(self.state_dir / "tenant-keys"),
            "PATH": bindir + os.pathsep + str(REPO / ".venv" / "bin") + os.pathsep + env.get("PATH", ""),
        })
        return env

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run([self.kubectl_bin, f"--kubeconfig={self.kubeconfig}", *args],
                              capture_output=True, text=True, input=input, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
        return proc

    def helm(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([self.helm_bin, f"--kubeconfig={self.kubeconfig}", *args], capture_output=True,
                              text=True, check=True)

    def kubectl_json(self, *args: str):
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def apply(self, manifest: str, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.kubectl("apply", "--server-side", "--field-manager=pytest", "-f", "-", *extra,
                            input=manifest, check=check)

    def audit_mark(self) -> int:
        """Position in the audit log; pass it to :meth:`writes_since`."""
        try:
            return self.audit_log.stat().st_size
        except FileNotFoundError:
            return 0

    def writes_since(self, mark: int, resource: str | None = None, namespace: str | None = None,
                     user: str | None = None) -> list[dict]:
        """Non-dry-run writes the API server logged after ``mark``; filter by resource, namespace, user."""
        return [ev for ev in audit.audit_writes(self.audit_log, mark)
                if (not resource or (ev.get("objectRef") or {}).get("resource") == resource)
                and (not namespace or (ev.get("objectRef") or {}).get("namespace") == namespace)
                and (not user or (ev.get("user") or {}).get("username") == user)]

    def client_writes(self, mark: int, namespace: str | None = None, resources=None) -> list[dict]:
        """Writes since ``mark`` by clients such as the collection (``tokenlabs-admin``, or a ServiceAccount it
        made), not by the cluster's own components (:func:`cluster_component`). The audit log is read once it has
        caught up (:meth:`settled_writes`)."""
        return [w for w in self.settled_writes(mark, namespace, resources)
                if not cluster_component((w.get("user") or {}).get("username", ""))]

    def settled_writes(self, mark: int, namespace: str | None, resources=None) -> list[dict]:
        """Writes since ``mark`` once the audit log has caught up (a sentinel write proves it).

        ``namespace`` None = every namespace; ``resources`` limits to resource names
        such as {"secrets"} (None = all).
        """
        sentinel = "sentinel-" + uuid.uuid4().hex[:8]
        writes = audit.settled_audit_writes(
            self.audit_log, mark, sentinel=sentinel,
            make_sentinel=lambda: self.kubectl("create", "configmap", sentinel, "-n", namespace or "default"))
        return [w for w in writes
                if (namespace is None or (w.get("objectRef") or {}).get("namespace") == namespace)
                and (resources is None or (w.get("objectRef") or {}).get("resource") in resources)]

    def ansible_playbook(self, *args: str, env: dict | None = None, check: bool = False,
                         cwd: Path | None = None) -> subprocess.CompletedProcess:
        full_env = self.env
        full_env.update(env or {})
        proc = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), *args],
                              capture_output=True, text=True, env=full_env, cwd=str(cwd or REPO), check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"ansible-playbook {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc


def cluster_component(username: str) -> bool:
    """A user of the cluster itself: the API server, the scheduler, the controller-manager and its controllers'
    ServiceAccounts in kube-system, KWOK and the NVIDIA stand-ins -- every ``system:`` user except the
    ServiceAccounts of other namespaces (the tenant manager's, for instance)."""
    if username.startswith("system:serviceaccount:"):
        return username.startswith("system:serviceaccount:kube-system:")
    return username.startswith("system:")


def wait_for(predicate, timeout, what, cp=None):
    """Poll ``predicate`` until it returns something true; on timeout fail with the nodes and pods as they are."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.5)
    detail = cp.kubectl("get", "nodes,pods", "-A", "-o", "wide", check=False).stdout if cp else ""
    raise AssertionError(f"not reached in {timeout}s: {what}\n{detail}")


def all_nodes_ready(cp, at_least: int = 1) -> bool:
    """Every node Ready (KWOK's lease) and schedulable (the node lifecycle controller lifted the not-ready taint)."""
    items = cp.kubectl_json("get", "nodes")["items"]
    return len(items) >= at_least and all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in (n.get("status") or {}).get("conditions") or [])
        and not any(t["key"].startswith("node.kubernetes.io/") for t in (n.get("spec") or {}).get("taints") or [])
        for n in items)
