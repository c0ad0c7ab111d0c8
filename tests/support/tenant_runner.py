"""Helpers for the tenant integration tests: run tasks/playbooks, read results, prove "no write"."""

from __future__ import annotations

import base64
import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
TIERS = {"free": {}, "pro": {}, "enterprise": {}}
SUPPLIED_KEY = "Zx9_kL2mQ8vR4tY7uI1oP3aS5dF6gH0jKlMnBvC-supplied"
SUPPLIED_KEY_2 = "Qw3-eR5tY7uI9oP1aS3dF5gH7jK9lZ1xC3vB5nM-other"


class Runner:
    """Runs one-play playbooks against the session control plane in one namespace."""

    def __init__(self, control_plane, namespace, tmp_path):
        self.cp = control_plane
        self.ns = namespace
        self.tmp = tmp_path
        self.count = 0
        self.outputs = []  # every stdout+stderr, for leak assertions
        self.human = False  # True: default (human) callback; results are then only {"failed": bool}

    def playbook(self, tasks, *args, json_output=True, env=None):
        self.count += 1
        path = self.tmp / ("play%d.yml" % self.count)
        play = [{"name": "Tenant test", "hosts": "localhost", "connection": "local", "gather_facts": False,
                 "tasks": tasks}]
        path.write_text(json.dumps(play))
        full_env = {"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"} if json_output else {}
        full_env.update(env or {})
        proc = self.cp.ansible_playbook(str(path), *args, env=full_env)
        self.outputs.append(proc.stdout + proc.stderr)
        return proc

    def module(self, name, params, *args, env=None):
        """Run one module task; returns (result dict, proc)."""
        task = {"name": "Run " + name, "tokenlabs.inference." + name: params}
        if self.human:
            proc = self.playbook([task], *args, env=env, json_output=False)
            return {"failed": proc.returncode != 0}, proc
        task["ignore_errors"] = True
        proc = self.playbook([task], *args, env=env)
        doc = json.loads(proc.stdout[proc.stdout.find("{"):] if proc.stdout.startswith("{") else
                         proc.stdout[proc.stdout.rfind("\n{\n") + 1:])
        return doc["plays"][0]["tasks"][0]["hosts"]["localhost"], proc

    def tenant(self, *args, **params):
        params.setdefault("namespace", self.ns)
        params.setdefault("auth_policy_namespace", self.ns)  # this test's own (absent) AuthPolicy: tiers as given
        if params.get("state", "present") == "present":
            params.setdefault("tiers", TIERS)
        return self.module("tenant", params, *args)[0]

    def tenants(self, items, *args, **params):
        params.setdefault("namespace", self.ns)
        params.setdefault("auth_policy_namespace", self.ns)
        params.setdefault("tiers", TIERS)
        params["tenants"] = items
        return self.module("tenants", params, *args)[0]

    def info(self, **params):
        params.setdefault("namespace", self.ns)
        return self.module("tenant_info", params)[0]

    # -- cluster state
    def secret(self, tenant, full_name=None):
        proc = self.cp.kubectl("get", "secret", full_name or "tenant-" + tenant, "-n", self.ns, "-o", "json",
                               check=False)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def secret_names(self):
        doc = self.cp.kubectl_json("get", "secrets", "-n", self.ns)
        return sorted(i["metadata"]["name"] for i in doc["items"])

    def mark(self):
        return self.cp.audit_mark()

    def secret_writes(self, mark):
        """Secret writes in this namespace since ``mark`` (waits for the audit log to catch up)."""
        return self.cp.settled_writes(mark, self.ns, {"secrets"})


def key_of(secret):
    return base64.b64decode(secret["data"]["api_key"]).decode()


def strip_volatile(secret):
    meta = dict(secret["metadata"])
    for field in ("resourceVersion", "managedFields"):
        meta.pop(field, None)
    return dict(secret, metadata=meta)
