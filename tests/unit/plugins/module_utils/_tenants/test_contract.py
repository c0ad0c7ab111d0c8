"""The tenant-Secret contract: one definition of every literal, one selector for both sides."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import contract
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import secret as tenant_secret
from ansible_collections.tokenlabs.inference.plugins.module_utils._tiers import policy_render
from support.tiers import DEFAULT_TIERS

REPO = Path(__file__).resolve().parents[5]
PLUGINS = REPO / "plugins"
SELECTOR = {"app": "token-labs"}
LITERALS = sorted(value for name, value in vars(contract).items()
                  if name.isupper() and isinstance(value, str) and "/" in value)
DOCS = {"DOCUMENTATION", "EXAMPLES", "RETURN"}


def code_strings(path: Path):
    """String constants of a plugin file outside docstrings and DOCUMENTATION/EXAMPLES/RETURN."""
    tree = ast.parse(path.read_text())
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body \
                and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
            skip.add(id(node.body[0].value))
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in DOCS for t in node.targets):
            skip.add(id(node.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.value


@pytest.mark.parametrize("literal", LITERALS)
def test_every_contract_literal_occurs_once_in_plugins(literal):
    where = []
    for path in sorted(PLUGINS.rglob("*.py")):
        if "doc_fragments" in path.parts:
            continue
        pattern = re.compile(re.escape(literal) + r"(?![\w.-])")
        where += [str(path.relative_to(REPO)) for text in code_strings(path) if pattern.search(text)]
    assert where == ["plugins/module_utils/_tenants/contract.py"], where


def selects(match_labels: dict, secret: dict) -> bool:
    labels = secret["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in match_labels.items())


def parse_selector(text: str) -> dict:
    return dict(part.split("=", 1) for part in text.split(","))


def test_the_auth_policy_and_the_tenant_list_select_the_same_secrets():
    policy = policy_render.render_policies(DEFAULT_TIERS, "Gateway", "gw", "gw-ns", SELECTOR)["AuthPolicy"]
    api_key = policy["spec"]["rules"]["authentication"]["api-key-tenants"]["apiKey"]["selector"]
    listed = parse_selector(contract.tenant_label_selector(SELECTOR))
    tenant = tenant_secret.render_secret("ns", SELECTOR, "acme", "free", "acme", "k" * 40, "2026-01-01T00:00:00Z")
    candidates = [
        tenant,
        {"metadata": {"labels": dict(SELECTOR)}},                               # not watched by Authorino
        {"metadata": {"labels": {contract.AUTHORINO_WATCH_LABEL: "authorino"}}},  # another AuthConfig's key
        {"metadata": {"labels": dict(SELECTOR, other="x", **{contract.AUTHORINO_WATCH_LABEL: "authorino"})}},
        {"metadata": {}},
    ]
    by_policy = [selects(api_key["matchLabels"], s) for s in candidates]
    by_list = [selects(listed, s) for s in candidates]
    assert by_policy == by_list == [True, False, False, True, False]


def test_secrets_path():
    assert contract.secrets_path("ns") == "/api/v1/namespaces/ns/secrets"
    assert contract.secrets_path("ns", "tenant-a") == "/api/v1/namespaces/ns/secrets/tenant-a"


def test_tenant_label_selector_is_sorted_and_carries_the_watch_label():
    assert contract.tenant_label_selector({"b": "2", "a": "1"}) == "a=1,authorino.kuadrant.io/managed-by=authorino,b=2"


def test_tiers_of_a_tenant_and_of_a_policy():
    secret = {"metadata": {"annotations": {contract.GROUPS_ANNOTATION: "free,,pro"}}}
    assert contract.tenant_tiers(secret) == ["free", "pro"]
    assert contract.tenant_tiers({}) == []
    assert contract.policy_tiers(None) is None
    assert contract.policy_tiers({"metadata": {}}) is None
    assert contract.policy_tiers({"metadata": {"annotations": {contract.TIERS_ANNOTATION: "free,pro"}}}) == {
        "free", "pro"}


def test_the_tier_rule_names_the_tier_and_the_allowed_ones():
    assert contract.tier_problem("free", ["free", "pro"], "tenant 'a'") is None
    assert contract.tier_problem("gold", ["pro", "free"], "tenant 'a'") == (
        "tenant 'a': tier 'gold' is not a known tier; allowed tiers: free, pro")
