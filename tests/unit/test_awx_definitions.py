"""AWX job templates and surveys against the playbooks they launch (no AWX server runs here)."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import yaml

from testworld import awx_model

REPO = awx_model.REPO
ANSIBLE_PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
TEMPLATES = awx_model.job_templates()
SURVEYED = [t for t in TEMPLATES if t.get("survey")]
TENANT_TEMPLATES = [t for t in TEMPLATES if t["playbook"] in ("tenant.yml", "tenants.yml", "tenant_report.yml")]


def _env():
    env = dict(os.environ)
    env.update({"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_COLLECTIONS_PATH": f"{REPO / '.cache' / 'collections'}:{os.path.expanduser('~/.ansible/collections')}"})
    return env


def test_expected_job_templates():
    names = [t["name"] for t in TEMPLATES]
    assert names == ["Deploy platform", "Sync tenants", "Tenant: onboard", "Tenant: change tier", "Tenant: rotate key",
                     "Tenant: revoke", "Tenant report", "Usage report", "Benchmark models", "Accuracy check"]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t["name"])
def test_playbook_exists_at_project_root_and_imports_an_existing_playbook(template):
    root = REPO / template["playbook"]
    assert root.is_file(), f"{template['name']}: AWX runs {template['playbook']} from the project root; it is missing"
    plays = yaml.safe_load(root.read_text())
    imported = [p["ansible.builtin.import_playbook"] for p in plays if "ansible.builtin.import_playbook" in p]
    assert imported, f"{root.name} must import a collection playbook"
    for name in imported:
        assert name.startswith("tokenlabs.inference.")
        assert (REPO / "playbooks" / (name.split(".")[-1] + ".yml")).is_file(), name


@pytest.mark.parametrize("template", SURVEYED, ids=lambda t: t["name"])
def test_survey_spec_is_complete_and_valid_for_awx(template):
    spec = awx_model.load_survey(template["survey"])
    assert awx_model.survey_spec_errors(spec) == []
    assert spec["name"] == template["name"]


@pytest.mark.parametrize("template", SURVEYED, ids=lambda t: t["name"])
def test_tier_choices_equal_the_tier_table(template):
    tiers = awx_model.platform_tiers()
    questions = [q for q in awx_model.load_survey(template["survey"])["spec"] if q["variable"] == "tenant_tier"]
    for q in questions:
        assert q["type"] == "multiplechoice"
        assert q["choices"] == tiers, "stored choices must be the keys of tokenlabs_tiers, in table order"


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t["name"])
def test_every_survey_and_extra_variable_is_read_by_the_playbook(template):
    text = awx_model.playbook_text(template["playbook"])
    variables = list(template.get("extra_vars") or {})
    if template.get("survey"):
        variables += [q["variable"] for q in awx_model.load_survey(template["survey"])["spec"]]
    for var in variables:
        assert re.search(r"\b%s\b" % re.escape(var), text), \
            f"{template['name']}: {var} is not read by {template['playbook']} (or the playbook/roles it runs)"


def test_tenant_actions_are_the_documented_ones():
    tenant_play = yaml.safe_load((REPO / "playbooks" / "tenant.yml").read_text())[0]
    allowed = tenant_play["vars"]["tenant_actions"]
    actions = {t["name"]: t["extra_vars"]["tenant_action"] for t in TEMPLATES if "tenant_action" in t["extra_vars"]}
    assert actions == {"Tenant: onboard": "onboard", "Tenant: change tier": "change_tier",
                       "Tenant: rotate key": "rotate", "Tenant: revoke": "revoke"}
    assert set(actions.values()) <= set(allowed)


@pytest.mark.parametrize("template", TENANT_TEMPLATES, ids=lambda t: t["name"])
def test_tenant_templates_use_the_tenant_manager_credential_not_a_kubeconfig(template):
    assert template["credentials"] == ["{{ tokenlabs_awx_tenant_credential_name }}"]
    assert "tokenlabs_kubeconfig" in template["extra_vars"] and template["extra_vars"]["tokenlabs_kubeconfig"] is None


def test_launch_vars_follow_awx_rules():
    onboard = next(t for t in TEMPLATES if t["name"] == "Tenant: onboard")
    got = awx_model.launch_extra_vars(onboard, {"tenant_name": "acme", "tenant_tier": "pro"})
    assert got["tenant_action"] == "onboard" and got["tenant_tier"] == "pro"
    assert got["tenant_expires_at"] == "" and got["tenant_key_file"] == ""  # optional defaults reach the playbook
    with pytest.raises(ValueError, match="tenant_name missing"):
        awx_model.launch_extra_vars(onboard, {"tenant_tier": "pro"})
    with pytest.raises(ValueError, match="not one of"):
        awx_model.launch_extra_vars(onboard, {"tenant_name": "acme", "tenant_tier": "gold"})
    with pytest.raises(ValueError, match="not allowed on launch"):
        awx_model.launch_extra_vars(onboard, {"tenant_name": "acme", "tenant_tier": "pro", "tokenlabs_tiers": {}})
    report = next(t for t in TEMPLATES if t["name"] == "Tenant report")
    assert "tenant_tier" not in awx_model.launch_extra_vars(report, {})  # "" is no tier: AWX drops that default


def test_survey_checker_rejects_incomplete_specs():
    spec = awx_model.load_survey("tenant_onboard.json")
    del spec["spec"][0]["new_question"]
    spec["spec"][1]["default"] = "gold"
    errors = awx_model.survey_spec_errors(spec)
    assert any("fields" in e for e in errors) and any("not one of the choices" in e for e in errors)


RENDER = """
- name: Render the AWX survey specs as awx_configure.yml sends them
  hosts: localhost
  connection: local
  gather_facts: false
  vars_files:
    - {repo}/playbooks/vars/awx.yml
  roles:
    - role: tokenlabs.inference.platform_defaults
  vars:
    awx_tier_choices: "{{{{ tokenlabs_tiers | list }}}}"
    awx_survey_dir: {repo}/playbooks/files/awx/surveys
  tasks:
    - name: Build the survey specs
      ansible.builtin.include_tasks: {repo}/playbooks/tasks/awx_survey_specs.yml
    - name: Write them
      ansible.builtin.copy:
        content: "{{{{ awx_survey_specs | to_json }}}}"
        dest: "{{{{ out }}}}"
        mode: "0600"
"""


def _render(tmp_path, *extra):
    play = tmp_path / "render.yml"
    play.write_text(RENDER.format(repo=REPO))
    out = tmp_path / "specs.json"
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(REPO / "inventory" / "local"), str(play),
                           "-e", f"out={out}", *extra], capture_output=True, text=True, env=_env(), cwd=str(REPO), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


def test_runtime_specs_equal_the_stored_files(tmp_path):
    """With the default tier table, awx_configure.yml sends exactly the stored files (so reruns compare equal)."""
    specs = _render(tmp_path)
    for template in TEMPLATES:
        expected = awx_model.load_survey(template["survey"]) if template.get("survey") else {}
        assert specs[template["name"]] == expected, template["name"]


def test_runtime_specs_take_tier_choices_from_the_tier_table(tmp_path):
    tiers = {"basic": {}, "team": {}, "pro": {}}
    specs = _render(tmp_path, "-e", json.dumps({"tokenlabs_tiers": tiers}))
    onboard = {q["variable"]: q for q in specs["Tenant: onboard"]["spec"]}
    assert onboard["tenant_tier"]["choices"] == ["basic", "team", "pro"]
    assert onboard["tenant_tier"]["default"] == ""  # "free" is no longer a tier
    assert onboard["tenant_name"] == awx_model.load_survey("tenant_onboard.json")["spec"][0]
    for name, spec in specs.items():
        if spec:
            assert awx_model.survey_spec_errors(spec) == [], name


@pytest.mark.parametrize("playbook", ["playbooks/awx_configure.yml", "playbooks/tenant_report.yml",
                                      "tenant_report.yml"])
def test_playbook_syntax(playbook):
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "--syntax-check", "-i", str(REPO / "inventory" / "example"),
                           str(REPO / playbook)], capture_output=True, text=True, env=_env(), cwd=str(REPO), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_collections_requirements_list_awx_for_awx_configure():
    reqs = yaml.safe_load((REPO / "collections" / "requirements.yml").read_text())["collections"]
    assert "awx.awx" in [r["name"] for r in reqs]
