"""Shared pytest fixtures.

Unit tests (tests/unit) import the collection's pure module_utils through the
``ansible_collections.tokenlabs.inference`` package that scripts/bootstrap links
into .cache/collections.

Integration tests (tests/integration) run against ONE real control plane per
session: kube-apiserver + etcd on 127.0.0.1 (tools/controlplane), with the
upstream CRDs from the artifact mirror installed.  Nothing is mocked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COLLECTIONS = REPO / ".cache" / "collections"
CONTROLPLANE = REPO / "tools" / "controlplane" / "controlplane.py"

if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))


def mirror_path() -> Path:
    proc = subprocess.run([str(REPO / "scripts" / "mirror-path")], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.exit(proc.stderr.strip(), returncode=2)
    return Path(proc.stdout.strip())


def _bin(name: str) -> str:
    sys.path.insert(0, str(CONTROLPLANE.parent))
    import controlplane  # noqa: E402 - local tool module

    return str(controlplane.binary(name))


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
            "ANSIBLE_COLLECTIONS_PATH": f"{COLLECTIONS}:{os.path.expanduser('~/.ansible/collections')}",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "TOKENLABS_MIRROR": str(self.mirror),
            "PATH": bindir + os.pathsep + str(REPO / ".venv" / "bin") + os.pathsep + env.get("PATH", ""),
        })
        return env

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run([self.kubectl_bin, f"--kubeconfig={self.kubeconfig}", *args],
                              capture_output=True, text=True, input=input, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
        return proc

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
        """Write requests (create/update/patch/delete) the API server logged after ``mark``.

        Dry-run requests are excluded; filter by resource, namespace, user name.
        """
        events = []
        try:
            with open(self.audit_log, "rb") as fh:
                fh.seek(mark)
                for line in fh:
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue
                    if ev.get("stage") != "ResponseComplete":
                        continue
                    if "dryRun=All" in ev.get("requestURI", ""):
                        continue
                    obj = ev.get("objectRef") or {}
                    if resource and obj.get("resource") != resource:
                        continue
                    if namespace and obj.get("namespace") != namespace:
                        continue
                    if user and (ev.get("user") or {}).get("username") != user:
                        continue
                    events.append(ev)
        except FileNotFoundError:
            pass
        return events

    def settled_writes(self, mark: int, namespace: str, resources=None) -> list[dict]:
        """Writes in ``namespace`` since ``mark``, once the audit log has caught up.

        Makes a sentinel write and waits until the audit log shows it, so every
        earlier write is in the log; then returns the writes to ``resources``
        (a collection of resource names, e.g. {"secrets"}; None = all but the sentinel).
        """
        sentinel = "sentinel-" + uuid.uuid4().hex[:8]
        self.kubectl("create", "configmap", sentinel, "-n", namespace)
        deadline = time.time() + 15
        while time.time() < deadline:
            writes = self.writes_since(mark, namespace=namespace)
            if any((w.get("objectRef") or {}).get("name") == sentinel for w in writes):
                return [w for w in writes
                        if (w.get("objectRef") or {}).get("name") != sentinel
                        and (resources is None or (w.get("objectRef") or {}).get("resource") in resources)]
            time.sleep(0.1)
        raise AssertionError(f"the audit log did not record the sentinel write {sentinel}")

    def ansible_playbook(self, *args: str, env: dict | None = None, check: bool = False,
                         cwd: Path | None = None) -> subprocess.CompletedProcess:
        full_env = self.env
        full_env.update(env or {})
        proc = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), *args],
                              capture_output=True, text=True, env=full_env, cwd=str(cwd or REPO), check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"ansible-playbook {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory):
    """One real kube-apiserver + etcd for the whole session, CRDs installed."""
    state_dir = tmp_path_factory.mktemp("controlplane")
    base = [sys.executable, str(CONTROLPLANE), "--state-dir", str(state_dir)]
    proc = subprocess.run(base + ["up", "--port", "0", "--timeout", "120"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"control plane did not start:\n{proc.stderr}", pytrace=False)
    info = json.loads((state_dir / "state.json").read_text())
    try:
        crds = subprocess.run(base + ["install-crds", str(mirror_path())], capture_output=True, text=True, check=False)
        if crds.returncode != 0:
            pytest.fail(f"installing CRDs failed:\n{crds.stderr}", pytrace=False)
        yield ControlPlane(state_dir, info)
    finally:
        subprocess.run(base + ["down"], capture_output=True, text=True, check=False)


@pytest.fixture
def namespace(control_plane):
    """A fresh namespace per test (never deleted: there is no namespace controller)."""
    name = "t-" + uuid.uuid4().hex[:10]
    control_plane.kubectl("create", "namespace", name)
    return name
