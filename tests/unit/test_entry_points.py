"""The project-level wrappers and the collection's playbooks resolve both ways.

AWX runs `site.yml` / `tenant.yml` / `tenants.yml` / `tenant_report.yml` / `benchmark.yml` / `accuracy.yml` from the repository
root; operators may also run `tokenlabs.inference.<playbook>` by FQCN.
"""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
ENV = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")


def syntax_check(target, inventory="inventory/local"):
    return subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", inventory, "--syntax-check", target],
                          cwd=REPO, env=ENV, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("wrapper", ["site.yml", "tenant.yml", "tenants.yml", "tenant_report.yml", "benchmark.yml",
                                     "accuracy.yml", "usage_report.yml"])
def test_root_wrapper_imports_collection_playbook(wrapper):
    text = (REPO / wrapper).read_text()
    assert f"import_playbook: tokenlabs.inference.{wrapper[:-4]}" in text
    res = syntax_check(wrapper)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("playbook", sorted(p.stem for p in (REPO / "playbooks").glob("*.yml")))
def test_collection_playbook_runs_by_fqcn(playbook):
    res = syntax_check(f"tokenlabs.inference.{playbook}", inventory="inventory/example")
    assert res.returncode == 0, res.stderr


def test_a_bare_run_does_not_pick_the_test_inventory():
    """ansible.cfg names no inventory (site.yml without -i must not deploy inventory/local) and checks host keys."""
    import configparser  # pylint: disable=import-outside-toplevel
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "ansible.cfg")
    assert "inventory" not in cfg["defaults"]
    assert cfg["defaults"].get("host_key_checking", "true").lower() not in ("false", "no", "0")


def list_tasks(*args):
    res = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "inventory/local", "--list-tasks", "site.yml", *args],
                         cwd=REPO, env=ENV, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    # (argument validation of every role always runs, whatever the tags: not a task of the role)
    return [line.strip() for line in res.stdout.splitlines()
            if "TAGS:" in line and " : " in line and "Validating arguments against arg spec" not in line]


@pytest.mark.parametrize("tag,roles", [
    ("tenants", {"tenants"}),
    ("tiers", {"tiers"}),
    ("models", {"gpu_operator", "platform_preflight", "model_serving", "gateway"}),
])
def test_site_tags_select_what_operators_expect(tag, roles):
    ran = {line.split(" : ")[0].split(".")[-1] for line in list_tasks("--tags", tag) if " : " in line}
    assert ran - {"platform_defaults"} == roles, ran


def test_the_shared_defaults_validate_without_an_inventory(tmp_path):
    """ansible-playbook without -i (implicit localhost, no inventory_dir) still loads platform_defaults."""
    play = tmp_path / "defaults.yml"
    play.write_text("- hosts: localhost\n  connection: local\n  gather_facts: false\n"
                    "  roles: [tokenlabs.inference.platform_defaults]\n  tasks:\n"
                    "    - ansible.builtin.debug: {msg: 'baselines in {{ tokenlabs_accuracy_baseline_dir }}'}\n")
    res = subprocess.run([str(ANSIBLE_PLAYBOOK), str(play)], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "baselines in baselines" in res.stdout
    res = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(REPO / "inventory" / "example"), str(play)], cwd=REPO,
                         env=ENV, capture_output=True, text=True, check=False)
    assert res.returncode == 0 and "baselines in %s" % (REPO / "baselines" / "example") in res.stdout, res.stdout
