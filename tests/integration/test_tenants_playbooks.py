"""The tenants role (site.yml's last role) and the tenant runbook playbook, against the control plane."""

from __future__ import annotations

import json
import stat
import uuid

from support.tenant_runner import REPO, Runner, key_of


def _role_play(tmp_path, variables):
    vars_file = tmp_path / ("vars-%s.json" % uuid.uuid4().hex[:6])
    vars_file.write_text(json.dumps(variables))
    play = tmp_path / "role.yml"
    play.write_text(json.dumps([{"name": "Tenants role", "hosts": "localhost", "connection": "local",
                                 "gather_facts": False, "roles": ["tokenlabs.inference.tenants"]}]))
    return str(play), "@%s" % vars_file


def test_tenants_role_creates_namespace_and_tenants_then_reruns_without_writes(control_plane, tmp_path):
    ns = "kuadrant-" + uuid.uuid4().hex[:8]  # does not exist yet
    key_dir = tmp_path / "tenant-keys"
    variables = {"tokenlabs_kuadrant_namespace": ns, "tokenlabs_tenant_key_dir": str(key_dir),
                 "tokenlabs_tenants": [{"name": "demo-free", "tier": "free", "display_name": "Demo"},
                                       {"name": "demo-pro", "tier": "pro", "user_id": "demo-pro-user"}]}
    play, extra = _role_play(tmp_path, variables)

    checked = control_plane.ansible_playbook(play, "-e", extra, "--check")
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert control_plane.kubectl("get", "namespace", ns, check=False).returncode != 0

    first = control_plane.ansible_playbook(play, "-e", extra)
    assert first.returncode == 0, first.stdout[-3000:]
    assert "changed=2" in first.stdout  # namespace + tenants
    report = " ".join(first.stdout.split())
    assert "written (mode 0600, one <tenant>.key each) to" in report and "demo-free" in report
    run = Runner(control_plane, ns, tmp_path)
    assert run.secret_names() == ["tenant-demo-free", "tenant-demo-pro"]
    for name in ("demo-free", "demo-pro"):
        key_file = key_dir / (name + ".key")
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert key_of(run.secret(name)) == key_file.read_text().strip()
        assert key_file.read_text().strip() not in first.stdout + first.stderr

    mark = control_plane.audit_mark()
    again = control_plane.ansible_playbook(play, "-e", extra)
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout[-3000:]
    assert run.secret_writes(mark) == []
    assert [w for w in control_plane.writes_since(mark, resource="namespaces") if
            (w.get("objectRef") or {}).get("name") == ns] == []


def test_tenants_role_prune_guard(control_plane, namespace, tmp_path):
    items = [{"name": "p%d" % i, "tier": "free"} for i in range(4)]
    variables = {"tokenlabs_kuadrant_namespace": namespace, "tokenlabs_tenant_key_dir": str(tmp_path / "k"),
                 "tokenlabs_tenants": items}
    play, extra = _role_play(tmp_path, variables)
    assert control_plane.ansible_playbook(play, "-e", extra).returncode == 0
    variables["tokenlabs_tenants"] = []
    play, extra = _role_play(tmp_path, variables)
    refused = control_plane.ansible_playbook(play, "-e", extra, "-e", "tenants_prune=true")
    assert refused.returncode != 0 and "prune would delete 4 of 4 managed tenants" in refused.stdout
    assert Runner(control_plane, namespace, tmp_path).secret_names() == ["tenant-p%d" % i for i in range(4)]
    forced = control_plane.ansible_playbook(play, "-e", extra, "-e", "tenants_prune=true",
                                            "-e", "tenants_prune_override=true")
    assert forced.returncode == 0
    assert Runner(control_plane, namespace, tmp_path).secret_names() == []


def test_tenant_runbook_actions(control_plane, namespace, tmp_path):
    run = Runner(control_plane, namespace, tmp_path)
    runbook = str(REPO / "playbooks" / "tenant.yml")
    key_file = tmp_path / "acme.key"

    def play(**extra_vars):
        extra_vars.setdefault("tokenlabs_kuadrant_namespace", namespace)
        vars_file = tmp_path / ("survey-%s.json" % uuid.uuid4().hex[:6])
        vars_file.write_text(json.dumps(extra_vars))
        return control_plane.ansible_playbook(runbook, "-e", "@%s" % vars_file)

    # an AWX survey sends empty strings for unanswered optional questions
    onboard = play(tenant_action="onboard", tenant_name="acme", tenant_tier="pro", tenant_user_id="",
                   tenant_display_name="ACME Corp", tenant_contact="", tenant_expires_at="2099-01-01T00:00:00Z",
                   tenant_grace_period="", tenant_key_file=str(key_file))
    assert onboard.returncode == 0, onboard.stdout[-3000:]
    assert "The new key of tenant acme is in %s (mode 0600)" % key_file in " ".join(onboard.stdout.split())
    secret = run.secret("acme")
    assert key_of(secret) == key_file.read_text().strip()
    ann = secret["metadata"]["annotations"]
    assert ann["tokenlabs.io/display-name"] == "ACME Corp" and "tokenlabs.io/contact" not in ann
    assert ann["tokenlabs.io/expires-at"] == "2099-01-01T00:00:00Z"

    mark = run.mark()
    assert play(tenant_action="onboard", tenant_name="acme", tenant_tier="pro",
                tenant_key_file=str(key_file)).returncode == 0
    assert run.secret_writes(mark) == []

    assert play(tenant_action="change_tier", tenant_name="acme", tenant_tier="enterprise").returncode == 0
    assert run.secret("acme")["metadata"]["annotations"]["kuadrant.io/groups"] == "enterprise"

    old_key = key_file.read_text().strip()
    assert play(tenant_action="rotate", tenant_name="acme", tenant_grace_period="7d",
                tenant_key_file=str(key_file)).returncode == 0
    assert key_file.read_text().strip() != old_key
    assert len([n for n in run.secret_names() if n.startswith("tenant-acme.retired-")]) == 1

    show = play(tenant_action="show", tenant_name="acme")
    assert show.returncode == 0 and "pending: true" in show.stdout and "tier: enterprise" in show.stdout

    missing = play(tenant_action="show", tenant_name="nobody")
    assert missing.returncode != 0 and "Tenant nobody does not exist" in " ".join(missing.stdout.split())
    no_tier = play(tenant_action="change_tier", tenant_name="acme")
    assert no_tier.returncode != 0 and "tenant_tier is required for change_tier" in " ".join(no_tier.stdout.split())
    no_file = play(tenant_action="rotate", tenant_name="acme", tokenlabs_tenant_key_dir=None)
    assert no_file.returncode != 0 and "tenant_key_file is required for rotate" in " ".join(no_file.stdout.split())
    past = play(tenant_action="onboard", tenant_name="late", tenant_tier="free",
                tenant_expires_at="2001-01-01T00:00:00Z", tenant_key_file=str(tmp_path / "late.key"))
    assert past.returncode != 0 and "lies in the past" in " ".join(past.stdout.split())

    assert play(tenant_action="revoke", tenant_name="acme").returncode == 0
    assert run.secret_names() == []


def test_the_capacity_plan_warns_and_can_fail_after_onboarding(control_plane, namespace, tmp_path):
    """Sold quotas against a benchmark record: 2 pro tenants (2 x 50,000 tokens/min) on a model measured at 600
    tokens/s in + out (36,000 tokens/min) are oversubscribed 2.78x; a warning past 2x, a failure past a 2.5x limit."""
    results = tmp_path / "benchmarks"
    results.mkdir()
    (results / "benchmark-20261201T000000Z.json").write_text(json.dumps({"format": 1, "models": [
        {"name": "m", "id": "org/m", "node": "spark-01",
         "levels": [{"concurrency": 8, "input_tokens_per_s": 200.0, "decode_tokens_per_s": 400.0}]}]}))
    variables = {"tokenlabs_kuadrant_namespace": namespace, "tokenlabs_tenant_key_dir": str(tmp_path / "k"),
                 "tokenlabs_benchmark_results_dir": str(results),
                 "tokenlabs_tenants": [{"name": "c1", "tier": "pro"}, {"name": "c2", "tier": "pro"}]}
    play, extra = _role_play(tmp_path, variables)
    first = control_plane.ansible_playbook(play, "-e", extra)
    assert first.returncode == 0, first.stdout[-3000:]
    line = ("sold 100000 tokens/min (2 tenant(s)) on a measured 36000 tokens/min (benchmark-20261201T000000Z.json): "
            "oversubscribed 2.78x")
    flat = " ".join((first.stdout + first.stderr).split())
    assert line in flat and "above 2.0x (tokenlabs_capacity_warn_factor)" in flat
    variables["tokenlabs_capacity_limit_factor"] = 2.5
    play, extra = _role_play(tmp_path, variables)
    limited = control_plane.ansible_playbook(play, "-e", extra)
    assert limited.returncode != 0 and "above the limit 2.5x (tokenlabs_capacity_limit_factor)" in limited.stdout
