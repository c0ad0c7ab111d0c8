"""No tenant key (generated or supplied) ever appears in Ansible output.

Every playbook and module path runs at -vvvv with --diff, in check mode and in
failing cases; all stdout+stderr is searched for every key we know (supplied,
from key files, from the cluster, plain and base64) and for anything shaped
like a generated key (``tlabs_sk_`` + hex, or its base64 prefix).
"""

from __future__ import annotations

import base64
import json
import re

import pytest
from support.tenant_runner import REPO, TIERS, Runner, key_of
from test_tenants import VAP, _wait_for_policy

LEAK_KEY = "Lk7-pQ2wE4rT6yU8iO0aS1dF3gH5jK7lZ9xC2vB4nM6-supplied"
LEAK_KEY_2 = "Mn8_bV6cX4zL2kJ0hG9fD7sA5pO3iU1yT8rE6wQ4-second"
WEAK_KEY = "short-but-secret-9"
GENERATED_RE = re.compile(r"tlabs_sk_[0-9a-f]{8,}")
GENERATED_B64_PREFIX = base64.b64encode(b"tlabs_sk_").decode()  # "dGxhYnNfc2tf"


@pytest.fixture
def run(control_plane, namespace, tmp_path):
    return Runner(control_plane, namespace, tmp_path)


def _cluster_keys(run):
    doc = run.cp.kubectl_json("get", "secrets", "-n", run.ns)
    return {key_of(i) for i in doc["items"] if "api_key" in (i.get("data") or {})}


def _assert_clean(run, known_keys):
    assert run.outputs, "nothing ran"
    for output in run.outputs:
        for key in known_keys:
            assert key not in output, "a key leaked into the output"
            assert base64.b64encode(key.encode()).decode() not in output, "a base64 key leaked into the output"
        match = GENERATED_RE.search(output)
        assert match is None, "something shaped like a generated key leaked: %s..." % match.group(0)[:12]
        assert GENERATED_B64_PREFIX not in output


def test_no_key_in_any_output(run, tmp_path):
    verbose = ("-vvvv", "--diff")
    run.human = True  # what an operator (or an AWX job log) sees
    keys = {LEAK_KEY, LEAK_KEY_2, WEAK_KEY}
    key_dir = tmp_path / "keys"
    key_file = tmp_path / "runbook.key"
    runbook = str(REPO / "playbooks" / "tenant.yml")
    ns_var = ("-e", "tokenlabs_kuadrant_namespace=" + run.ns)

    def runbook_play(*extra):
        proc = run.cp.ansible_playbook(runbook, *verbose, *ns_var, *extra)
        run.outputs.append(proc.stdout + proc.stderr)
        return proc

    # --- the runbook playbook, every action, check mode first
    onboard = ("-e", "tenant_action=onboard", "-e", "tenant_name=leaky", "-e", "tenant_tier=pro",
               "-e", "tenant_key_file=%s" % key_file, "-e", "tenant_display_name=Leaky Inc")
    assert runbook_play(*onboard, "--check").returncode == 0
    assert runbook_play(*onboard).returncode == 0
    keys.add(key_file.read_text().strip())
    assert runbook_play("-e", "tenant_action=change_tier", "-e", "tenant_name=leaky",
                        "-e", "tenant_tier=enterprise").returncode == 0
    rotate = ("-e", "tenant_action=rotate", "-e", "tenant_name=leaky", "-e", "tenant_grace_period=1h",
              "-e", "tenant_key_file=%s" % key_file)
    assert runbook_play(*rotate, "--check").returncode == 0
    assert runbook_play(*rotate).returncode == 0
    keys.add(key_file.read_text().strip())
    keys |= _cluster_keys(run)
    assert runbook_play("-e", "tenant_action=show", "-e", "tenant_name=leaky").returncode == 0
    # failing runbook cases: bad input, rotation of a tenant that does not exist
    assert runbook_play("-e", "tenant_action=onboard", "-e", "tenant_name=leaky2", "-e", "tenant_tier=gold",
                        "-e", "tenant_key_file=%s" % key_file).returncode != 0
    assert runbook_play("-e", "tenant_action=rotate", "-e", "tenant_name=nobody",
                        "-e", "tenant_key_file=%s" % key_file).returncode != 0

    # --- modules with supplied keys, check mode and real
    run.tenant(*verbose, "--check", name="sup", tier="free", api_key=LEAK_KEY)
    run.tenant(*verbose, name="sup", tier="free", api_key=LEAK_KEY)
    run.tenant(*verbose, name="sup", rotate=True, grace_period="30m", api_key=LEAK_KEY_2)
    run.tenant(*verbose, "--check", name="sup", rotate=True, api_key_file=str(tmp_path / "x.key"))
    # failing module cases: weak key, duplicate key, key without destination, tier missing
    assert run.tenant(*verbose, name="weak", tier="free", api_key=WEAK_KEY)["failed"]
    assert run.tenant(*verbose, name="dup", tier="free", api_key=LEAK_KEY_2)["failed"]
    assert run.tenant(*verbose, name="nodest", tier="free")["failed"]
    assert run.tenant(*verbose, "--check", name="nodest", tier="free")["failed"]

    # --- the list module: generated + supplied, check mode, diff, prune, failures
    items = [{"name": "l%d" % i, "tier": "pro"} for i in range(3)]
    items.append({"name": "lsup", "tier": "free", "api_key": "Pq1-" + LEAK_KEY[4:]})
    keys.add("Pq1-" + LEAK_KEY[4:])
    run.tenants(items, *verbose, "--check", key_dir=str(key_dir))
    run.tenants(items, *verbose, key_dir=str(key_dir))
    items[0]["rotate"] = True
    items[0]["grace_period"] = "1h"
    run.tenants(items, *verbose, key_dir=str(key_dir))
    keys |= {p.read_text().strip() for p in key_dir.iterdir()}
    keys |= _cluster_keys(run)
    del items[0]["rotate"], items[0]["grace_period"]
    run.tenants(items[:2], *verbose, "--check", prune=True, prune_override=True, key_dir=str(key_dir))
    assert run.tenants(items + [{"name": "lx", "tier": "free", "api_key": LEAK_KEY}], *verbose)["failed"]

    # a write refused by the API server, for a generated and a supplied key
    run.cp.apply(VAP % {"ns": run.ns})
    _wait_for_policy(run)
    refused = [{"name": "blocked", "tier": "free", "user_id": "blocked"},
               {"name": "blocked2", "tier": "free", "user_id": "blocked",
                "api_key": "Rs5_" + LEAK_KEY_2[4:]}]
    keys.add("Rs5_" + LEAK_KEY_2[4:])
    assert run.tenants(refused[:1], *verbose, key_dir=str(key_dir))["failed"]
    assert run.tenants(refused[1:], *verbose)["failed"]
    assert run.tenant(*verbose, name="blocked3", tier="free", user_id="blocked", return_key=False,
                      api_key_file=str(tmp_path / "b3.key"))["failed"]
    run.cp.kubectl("delete", "validatingadmissionpolicybinding", "deny-blocked-" + run.ns)

    # --- tenant_info and revoke
    run.module("tenant_info", {"namespace": run.ns}, *verbose)
    run.tenant(*verbose, "--check", name="sup", state="absent")
    run.tenant(*verbose, name="sup", state="absent")
    assert runbook_play("-e", "tenant_action=revoke", "-e", "tenant_name=leaky").returncode == 0

    # --- the tenants role (site.yml's last role) with a supplied key in the inventory list
    role_vars = tmp_path / "role-vars.json"
    role_vars.write_text(json.dumps({
        "tokenlabs_kuadrant_namespace": run.ns, "tokenlabs_tenant_key_dir": str(key_dir),
        "tokenlabs_tenants": [{"name": "role1", "tier": "free"},
                              {"name": "role2", "tier": "pro", "api_key": "Tu7~" + LEAK_KEY[4:]}]}))
    keys.add("Tu7~" + LEAK_KEY[4:])
    role_play = tmp_path / "role.yml"
    role_play.write_text(json.dumps([{"name": "Tenants role", "hosts": "localhost", "connection": "local",
                                      "gather_facts": False, "roles": ["tokenlabs.inference.tenants"]}]))
    for extra in (("--check",), (), ()):
        proc = run.cp.ansible_playbook(str(role_play), *verbose, "-e", "@%s" % role_vars, *extra)
        run.outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-3000:]
    keys |= {p.read_text().strip() for p in key_dir.iterdir()}
    keys |= _cluster_keys(run)

    assert len(keys) >= 12
    assert all("ansible-playbook [core" in output for output in run.outputs)  # really verbose
    assert sum("<localhost> EXEC" in output for output in run.outputs) >= len(run.outputs) - 3
    _assert_clean(run, keys)


def test_default_output_without_key_file_has_no_key(run):
    """Without a key destination nothing is generated into the open: the module refuses before writing."""
    res = run.tenant("-vvvv", "--diff", name="quiet", tier="free")
    assert res["failed"] and "nowhere to go" in res["msg"] and run.secret("quiet") is None
    res = run.tenants([{"name": "quiet", "tier": "free"}], "-vvvv", "--diff")
    assert res["failed"] and "nowhere to go" in res["msg"] and run.secret("quiet") is None
    # supplied keys need no destination, and are not echoed either
    res = run.tenants([{"name": "quiet", "tier": "free", "api_key": LEAK_KEY}], "-vvvv", "--diff")
    assert res["created"] == ["quiet"]
    run.human = True
    assert not run.tenants([{"name": "quiet", "tier": "free", "api_key": LEAK_KEY}], "-vvvv", "--diff")["failed"]
    _assert_clean(run, {LEAK_KEY})
    assert TIERS


def test_the_detector_sees_an_opted_in_key(run):
    """Positive control: return_key=true is the explicit opt-in, and the leak detector does see that key."""
    run.human = True
    run.tenant("-v", name="optin", tier="free", return_key=True)
    output = run.outputs[-1]
    assert GENERATED_RE.search(output) and key_of(run.secret("optin")) in output
    with pytest.raises(AssertionError):
        _assert_clean(run, set())
