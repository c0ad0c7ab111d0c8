"""The tenant-manager ServiceAccount on a real control plane, used the way AWX uses it.

roles/tenant_manager_access is applied (idempotently: a rerun and a check-mode
run send no write); then a token minted with the TokenRequest API (`kubectl
create token`, there is no token controller here) is passed ONLY as AWX's
Kubernetes credential passes it (K8S_AUTH_HOST, K8S_AUTH_API_KEY,
K8S_AUTH_SSL_CA_CERT, K8S_AUTH_VERIFY_SSL; no kubeconfig anywhere) to tenant.yml
and tenant_report.yml with the extra vars AWX builds from each job template and
its survey. The same token is refused for everything else.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid

import pytest

from testworld import awx_model

REPO = awx_model.REPO
ACCOUNT = "tokenlabs-tenant-manager"
TEMPLATES = {t["name"]: t for t in awx_model.job_templates()}
LABELS = {"app": "token-labs", "authorino.kuadrant.io/managed-by": "authorino"}

ROLE_PLAY = """
- name: Tenant-manager access
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: tokenlabs.inference.tenant_manager_access
"""


@pytest.fixture(scope="module")
def access(control_plane, tmp_path_factory):
    """A Kuadrant namespace of its own with the role applied; returns (namespace, play path, tmp dir)."""
    ns = "kq-" + uuid.uuid4().hex[:8]
    tmp = tmp_path_factory.mktemp("tenant-manager")
    play = tmp / "access.yml"
    play.write_text(ROLE_PLAY)
    # A platform Secret that is not a tenant (like Limitador's Redis URL).
    control_plane.kubectl("create", "namespace", ns)
    control_plane.kubectl("create", "secret", "generic", "limitador-redis", "-n", ns,
                          "--from-literal=URL=redis://redis:6379")
    proc = control_plane.ansible_playbook("-i", str(REPO / "inventory" / "local"), str(play),
                                          "-e", f"tokenlabs_kuadrant_namespace={ns}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "changed=" in proc.stdout and "changed=0" not in proc.stdout
    return ns, play, tmp


AUTHCONFIG = "tenants-authconfig"
REFRESH_ANNOTATION = "tokenlabs.io/tenants-revision"


def _authconfig(ns):
    """An AuthConfig that authenticates this namespace's tenants (the shape kuadrant-operator writes). Without the
    ``kuadrant.io/managed`` label: the real kuadrant-operator runs in this world and deletes a managed AuthConfig it
    did not generate; the refresh selects AuthConfigs by their apiKey selector, not by that label."""
    return json.dumps({
        "apiVersion": "authorino.kuadrant.io/v1beta3", "kind": "AuthConfig",
        "metadata": {"name": AUTHCONFIG, "namespace": ns},
        "spec": {"hosts": [AUTHCONFIG], "authentication": {"api-key-tenants": {
            "apiKey": {"selector": {"matchLabels": {"app": "token-labs"}}},
            "credentials": {"authorizationHeader": {"prefix": "Bearer"}}}}}})


def _writes(control_plane, mark):
    return control_plane.client_writes(mark)


def test_rerun_and_check_mode_send_no_write(control_plane, access):
    ns, play = access[:2]
    for extra in ([], ["--check", "--diff"]):
        mark = control_plane.audit_mark()
        proc = control_plane.ansible_playbook("-i", str(REPO / "inventory" / "local"), str(play),
                                              "-e", f"tokenlabs_kuadrant_namespace={ns}", *extra)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "changed=0" in proc.stdout, proc.stdout
        assert _writes(control_plane, mark) == [], [e["requestURI"] for e in _writes(control_plane, mark)]


def test_objects_are_least_privilege(control_plane, access):
    ns = access[0]
    role = control_plane.kubectl_json("get", "role", ACCOUNT, "-n", ns)
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"],
                              "verbs": ["get", "list", "create", "patch", "delete"]},
                             {"apiGroups": ["authorino.kuadrant.io"], "resources": ["authconfigs"],
                              "verbs": ["get", "list", "patch"]}]
    bindings = control_plane.kubectl_json("get", "clusterrolebindings")["items"]
    subjects = [s for b in bindings for s in b.get("subjects") or []]
    assert not [s for s in subjects if s.get("name") == ACCOUNT], "no cluster-wide rights"
    tiers_role = control_plane.kubectl_json("get", "role", ACCOUNT + "-tiers", "-n", "token-labs")
    assert tiers_role["rules"] == [{"apiGroups": ["kuadrant.io"], "resources": ["authpolicies"],
                                    "resourceNames": ["token-labs-auth"], "verbs": ["get"]}]
    sa = control_plane.kubectl_json("get", "serviceaccount", ACCOUNT, "-n", ns)
    assert sa["automountServiceAccountToken"] is False
    policy = control_plane.kubectl_json("get", "validatingadmissionpolicy", f"{ACCOUNT}.{ns}.tokenlabs.io")
    assert f"system:serviceaccount:{ns}:{ACCOUNT}" in policy["spec"]["matchConditions"][0]["expression"]


@pytest.fixture(scope="module")
def awx(control_plane, access):
    """Runs root playbooks like an AWX job with the tenant-manager Kubernetes credential."""
    ns, tmp = access[0], access[2]
    token = control_plane.kubectl("create", "token", ACCOUNT, "-n", ns, "--duration=1h").stdout.strip()
    assert token.count(".") == 2
    home = tmp / "home"
    home.mkdir()
    env = {k: v for k, v in control_plane.env.items() if k not in ("KUBECONFIG", "K8S_AUTH_KUBECONFIG")}
    env.update({
        "HOME": str(home),  # no ~/.kube/config to fall back to
        "K8S_AUTH_HOST": f"https://127.0.0.1:{control_plane.port}",
        "K8S_AUTH_API_KEY": token,
        "K8S_AUTH_SSL_CA_CERT": str(control_plane.state_dir / "pki" / "ca.crt"),
        "K8S_AUTH_VERIFY_SSL": "True",
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".cache" / "collections"),
    })
    assert not [k for k in env if "KUBECONFIG" in k]

    def run(template_name, answers, inventory_vars=None):
        template = TEMPLATES[template_name]
        extra = awx_model.launch_extra_vars(template, answers)
        extra["tokenlabs_kuadrant_namespace"] = ns  # the inventory's value (one namespace per test run)
        extra.update(inventory_vars or {})
        vars_file = tmp / "extra_vars.json"
        vars_file.write_text(json.dumps(extra))
        proc = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i",
                               str(REPO / "inventory" / "local"), template["playbook"], "-e", f"@{vars_file}"],
                              capture_output=True, text=True, env=env, cwd=str(REPO), check=False)
        return proc

    run.token = token
    run.ns = ns
    run.tmp = tmp
    return run


def _secret(control_plane, ns, name):
    proc = control_plane.kubectl("get", "secret", name, "-n", ns, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def test_tenant_job_templates_with_the_tenant_manager_token(control_plane, awx):
    ns = awx.ns
    key_file = awx.tmp / "acme.key"
    user = f"system:serviceaccount:{ns}:{ACCOUNT}"
    mark = control_plane.audit_mark()

    onboard = awx("Tenant: onboard", {"tenant_name": "acme", "tenant_tier": "free", "tenant_display_name": "ACME Corp",
                                      "tenant_contact": "ops@acme.example", "tenant_user_id": "",
                                      "tenant_expires_at": "2099-12-31T23:59:59Z", "tenant_key_file": str(key_file)})
    assert onboard.returncode == 0, onboard.stdout + onboard.stderr
    secret = _secret(control_plane, ns, "tenant-acme")
    assert secret["metadata"]["labels"] == LABELS
    assert secret["metadata"]["annotations"]["kuadrant.io/groups"] == "free"
    key = key_file.read_text().strip()
    assert base64.b64decode(secret["data"]["api_key"]).decode() == key
    assert key not in onboard.stdout + onboard.stderr

    control_plane.apply(_authconfig(ns))
    tier = awx("Tenant: change tier", {"tenant_name": "acme", "tenant_tier": "enterprise"})
    assert tier.returncode == 0, tier.stdout + tier.stderr
    assert "not told to re-read" not in tier.stdout + tier.stderr
    assert _secret(control_plane, ns, "tenant-acme")["metadata"]["annotations"]["kuadrant.io/groups"] == "enterprise"
    # Authorino is told to re-read the tenants (it ignores a Secret update that keeps the key)
    authconfig = control_plane.kubectl_json("get", "authconfig", AUTHCONFIG, "-n", ns)
    assert REFRESH_ANNOTATION in authconfig["metadata"]["annotations"]

    rotated_file = awx.tmp / "acme-rotated.key"
    rotate = awx("Tenant: rotate key", {"tenant_name": "acme", "tenant_key_file": str(rotated_file)})
    assert rotate.returncode == 0, rotate.stdout + rotate.stderr  # survey default grace period 24h
    new_key = rotated_file.read_text().strip()
    assert new_key != key
    assert base64.b64decode(_secret(control_plane, ns, "tenant-acme")["data"]["api_key"]).decode() == new_key
    secrets = control_plane.kubectl_json("get", "secrets", "-n", ns, "-l", "app=token-labs")["items"]
    retired = [s for s in secrets if ".retired-" in s["metadata"]["name"]]
    assert len(retired) == 1 and base64.b64decode(retired[0]["data"]["api_key"]).decode() == key

    report = awx("Tenant report", {"tenant_tier": "enterprise"})
    assert report.returncode == 0, report.stdout + report.stderr
    assert "1 tenant(s)" in report.stdout and "acme" in report.stdout
    assert new_key not in report.stdout and key not in report.stdout
    # the rotation's 24h grace ends within the survey's default 14d: listed, and a failure when asked for
    assert "1 key(s) ending within 14d: acme: rotation grace ends" in report.stdout
    failing = awx("Tenant report", {"tenant_tier": "enterprise", "tenant_report_fail_on_ending": "true"})
    assert failing.returncode != 0 and "1 key(s) stop working within 14d: acme: rotation grace ends" in failing.stdout
    assert new_key not in failing.stdout + failing.stderr and key not in failing.stdout + failing.stderr
    quiet = awx("Tenant report", {"tenant_report_ending_within": "1h", "tenant_report_fail_on_ending": "true"})
    assert quiet.returncode == 0 and "0 key(s) ending within 1h" in quiet.stdout, quiet.stdout + quiet.stderr

    revoke = awx("Tenant: revoke", {"tenant_name": "acme"})
    assert revoke.returncode == 0, revoke.stdout + revoke.stderr
    assert control_plane.kubectl_json("get", "secrets", "-n", ns, "-l", "app=token-labs")["items"] == []
    assert _secret(control_plane, ns, "limitador-redis") is not None

    writes = [e for e in _writes(control_plane, mark) if e["objectRef"].get("resource") == "secrets"]
    assert writes and {e["user"]["username"] for e in writes} == {user}
    assert {e["verb"] for e in writes} >= {"create", "patch", "delete"}
    refreshes = [e for e in _writes(control_plane, mark) if e["objectRef"].get("resource") == "authconfigs"
                 and e["user"]["username"] == user]
    assert [e["verb"] for e in refreshes] == ["patch", "patch"]  # change tier, rotate


HANDOVER_NS = "tokenlabs-key-handover"


def _handovers(control_plane, tenant):
    items = control_plane.kubectl_json("get", "secrets", "-n", HANDOVER_NS, "-l",
                                       "tokenlabs.io/key-handover=true,tokenlabs.io/tenant=" + tenant)["items"]
    return {s["metadata"]["name"]: base64.b64decode(s["data"]["api_key"]).decode() for s in items}


def test_awx_onboarding_hands_the_key_over_to_an_operator(control_plane, awx):
    """No key file survives an AWX job: the key waits in a hand-over Secret an operator picks up (and deletes)."""
    ns = awx.ns
    onboard = awx("Tenant: onboard", {"tenant_name": "handed", "tenant_tier": "pro", "tenant_display_name": "",
                                      "tenant_contact": "", "tenant_user_id": "", "tenant_expires_at": "",
                                      "tenant_key_file": ""})
    assert onboard.returncode == 0, onboard.stdout + onboard.stderr
    live = base64.b64decode(_secret(control_plane, ns, "tenant-handed")["data"]["api_key"]).decode()
    waiting = _handovers(control_plane, "handed")
    assert list(waiting.values()) == [live] and live not in onboard.stdout + onboard.stderr
    assert "waits in Secret %s/" % HANDOVER_NS in onboard.stdout and "tenant_key_pickup" in onboard.stdout
    handover = control_plane.kubectl_json("get", "secret", list(waiting)[0], "-n", HANDOVER_NS)
    assert "app" not in handover["metadata"]["labels"]  # never an API key to Authorino
    # the tenant-manager token may not read a hand-over back by name
    proc = _as_tenant_manager(control_plane, awx, "-n", HANDOVER_NS, "get", "secret", list(waiting)[0])
    assert proc.returncode != 0 and "forbidden" in proc.stderr.lower()

    # an operator, with the cluster credential, picks it up: file == live key, hand-over gone
    key_file = awx.tmp / "picked.key"
    pickup = control_plane.ansible_playbook("-i", str(REPO / "inventory" / "local"), "tokenlabs.inference.tenant_key_pickup",
                                            "-e", f"tokenlabs_kuadrant_namespace={ns}", "-e", "tenant_name=handed",
                                            "-e", f"tenant_key_file={key_file}")
    assert pickup.returncode == 0, pickup.stdout + pickup.stderr
    assert key_file.read_text().strip() == live and oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert _handovers(control_plane, "handed") == {} and live not in pickup.stdout + pickup.stderr
    again = control_plane.ansible_playbook("-i", str(REPO / "inventory" / "local"), "tokenlabs.inference.tenant_key_pickup",
                                           "-e", f"tokenlabs_kuadrant_namespace={ns}", "-e", "tenant_name=handed",
                                           "-e", f"tenant_key_file={key_file}")
    assert again.returncode != 0 and "picked up already" in again.stdout

    # a hand-over nobody picked up is removed once its time is over (by the next tenant job)
    rotate = awx("Tenant: rotate key", {"tenant_name": "handed", "tenant_key_file": ""},
                 {"tokenlabs_key_handover_ttl": "1s"})
    assert rotate.returncode == 0, rotate.stdout + rotate.stderr
    assert len(_handovers(control_plane, "handed")) == 1
    time.sleep(2)
    other = awx("Tenant: onboard", {"tenant_name": "other", "tenant_tier": "free", "tenant_display_name": "",
                                    "tenant_contact": "", "tenant_user_id": "", "tenant_expires_at": "",
                                    "tenant_key_file": ""})
    assert other.returncode == 0, other.stdout + other.stderr
    assert _handovers(control_plane, "handed") == {} and len(_handovers(control_plane, "other")) == 1


def test_sync_tenants_job_with_the_tenant_manager_token(control_plane, awx):
    ns = awx.ns
    key_dir = awx.tmp / "sync-keys"
    inventory = {"tokenlabs_tenants": [{"name": "inv-a", "tier": "free"}, {"name": "inv-b", "tier": "pro"}],
                 "tokenlabs_tenant_key_dir": str(key_dir), "awx_job_id": 42}  # AWX sets awx_job_id
    first = awx("Sync tenants", {}, inventory)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "in hand-over Secrets (namespace %s)" % HANDOVER_NS in first.stdout  # the job container's key files are lost
    for name in ("inv-a", "inv-b"):
        assert list(_handovers(control_plane, name).values()) == [(key_dir / (name + ".key")).read_text().strip()]
    for name in ("inv-a", "inv-b"):
        secret = _secret(control_plane, ns, "tenant-" + name)
        assert secret["metadata"]["annotations"]["tokenlabs.io/owner"] == "inventory"
        assert base64.b64decode(secret["data"]["api_key"]).decode() == (key_dir / (name + ".key")).read_text().strip()
    mark = control_plane.audit_mark()
    again = awx("Sync tenants", {}, inventory)
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout + again.stderr
    assert [e for e in _writes(control_plane, mark) if e["objectRef"].get("namespace") == ns] == []
    pruned = awx("Sync tenants", {}, dict(inventory, tokenlabs_tenants=[], tenants_prune=True, tenants_prune_override=True))
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert _secret(control_plane, ns, "tenant-inv-a") is None and _secret(control_plane, ns, "tenant-inv-b") is None


def _as_tenant_manager(control_plane, awx, *args, input=None):
    return subprocess.run([control_plane.kubectl_bin, "--kubeconfig=/dev/null",
                           f"--server=https://127.0.0.1:{control_plane.port}", f"--token={awx.token}",
                           f"--certificate-authority={control_plane.state_dir / 'pki' / 'ca.crt'}", *args],
                          capture_output=True, text=True, input=input, check=False)


def _secret_yaml(ns, name, labels, kind="Opaque", annotations=None):
    return json.dumps({"apiVersion": "v1", "kind": "Secret", "type": kind,
                       "metadata": {"name": name, "namespace": ns, "labels": labels,
                                    "annotations": annotations or {}},
                       "stringData": {} if kind != "Opaque" else {"api_key": "x" * 40}})


DENIED_BY_POLICY = "ValidatingAdmissionPolicy"


def test_the_token_is_refused_for_anything_else(control_plane, awx):
    ns = awx.ns

    def k(*args, **kwargs):
        return _as_tenant_manager(control_plane, awx, *args, **kwargs)
    before = _secret(control_plane, ns, "limitador-redis")

    # non-tenant Secret: change, relabel into a tenant, delete
    for args in (["patch", "secret", "limitador-redis", "-p", '{"data":{"URL":"cmVkaXM6Ly9ldmls"}}'],
                 ["label", "secret", "limitador-redis", "app=token-labs", "authorino.kuadrant.io/managed-by=authorino"],
                 ["delete", "secret", "limitador-redis"]):
        proc = k("-n", ns, *args)
        assert proc.returncode != 0 and DENIED_BY_POLICY in proc.stderr, (args, proc.stderr)
    after = _secret(control_plane, ns, "limitador-redis")
    assert after["data"] == before["data"] and after["metadata"].get("labels") == before["metadata"].get("labels")

    # creating Secrets that are not tenant Secrets
    for manifest in (_secret_yaml(ns, "tenant-nolabels", {}),
                     _secret_yaml(ns, "tenant-halflabels", {"app": "token-labs"}),
                     _secret_yaml(ns, "other-name", LABELS),
                     _secret_yaml(ns, "tenant-sa-token", LABELS, kind="kubernetes.io/service-account-token",
                                  annotations={"kubernetes.io/service-account.name": ACCOUNT})):
        proc = k("create", "-f", "-", input=manifest)
        assert proc.returncode != 0 and DENIED_BY_POLICY in proc.stderr, (manifest, proc.stderr)

    # a tenant Secret cannot be turned into a non-tenant one
    assert k("create", "-f", "-", input=_secret_yaml(ns, "tenant-probe", LABELS)).returncode == 0
    proc = k("-n", ns, "label", "secret", "tenant-probe", "app-")
    assert proc.returncode != 0 and DENIED_BY_POLICY in proc.stderr
    assert k("-n", ns, "delete", "secret", "tenant-probe").returncode == 0

    # AuthConfigs: only the re-read annotation may change
    control_plane.apply(_authconfig(ns))
    for args in (["patch", "authconfig", AUTHCONFIG, "--type=merge", "-p", '{"spec":{"hosts":["evil"]}}'],
                 ["annotate", "authconfig", AUTHCONFIG, "other.example/x=1"],
                 ["label", "authconfig", AUTHCONFIG, "other.example/y=1"]):
        proc = k("-n", ns, *args)
        assert proc.returncode != 0 and DENIED_BY_POLICY in proc.stderr, (args, proc.stderr)
    assert k("-n", ns, "annotate", "authconfig", AUTHCONFIG, f"{REFRESH_ANNOTATION}=probe", "--overwrite").returncode == 0
    proc = k("-n", ns, "delete", "authconfig", AUTHCONFIG)
    assert proc.returncode != 0 and "forbidden" in proc.stderr.lower()

    # outside its namespace, other resources, cluster scope: RBAC says no (403)
    other = ns + "-other"
    control_plane.kubectl("create", "namespace", other)
    for args in (["get", "secrets", "-n", other], ["get", "secrets", "-n", "kube-system"],
                 ["create", "-f", "-"], ["get", "configmaps", "-n", ns], ["create", "configmap", "x", "-n", ns],
                 ["get", "namespaces"], ["get", "validatingadmissionpolicies"],
                 ["delete", "validatingadmissionpolicy", f"{ACCOUNT}.{ns}.tokenlabs.io"],
                 ["patch", "role", ACCOUNT, "-n", ns, "-p", '{"rules":[]}'],
                 ["create", "token", "default", "-n", ns]):
        proc = k(*args, input=_secret_yaml(other, "tenant-x", LABELS) if args == ["create", "-f", "-"] else None)
        assert proc.returncode != 0 and "forbidden" in proc.stderr.lower(), (args, proc.stderr)
        assert DENIED_BY_POLICY not in proc.stderr  # RBAC, before admission

    # what it can read: every Secret of its one namespace (RBAC cannot filter reads by label)
    proc = k("get", "secrets", "-n", ns, "-o", "name")
    assert proc.returncode == 0 and "secret/limitador-redis" in proc.stdout
