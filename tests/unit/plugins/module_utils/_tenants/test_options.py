"""The tenant modules' option specs equal the doc fragments that document them."""

from __future__ import annotations

import yaml

from ansible_collections.tokenlabs.inference.plugins.doc_fragments.tenant_fields import ModuleDocFragment as Fields
from ansible_collections.tokenlabs.inference.plugins.doc_fragments.tenant_run import ModuleDocFragment as Run
from ansible_collections.tokenlabs.inference.plugins.doc_fragments.tenant_secrets import ModuleDocFragment as Where
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import options
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import spec as tenant_spec


def _documented(text, *path):
    options = yaml.safe_load(text)["options"]
    for key in path:
        options = options[key]
    return options


def _same(doc_options, spec):
    assert sorted(doc_options) == sorted(spec)
    for name, option in spec.items():
        doc = doc_options[name]
        assert doc["type"] == option["type"], name
        assert doc.get("default") == option.get("default"), name
        assert doc.get("required", False) == option.get("required", False), name
        assert doc.get("choices") == option.get("choices"), name
        assert sorted(doc.get("aliases", [])) == sorted(option.get("aliases", [])), name


def test_each_spec_equals_its_doc_fragment():
    fields = options.TENANT_FIELDS_ARG_SPEC
    _same(_documented(Fields.DOCUMENTATION), fields)
    _same(_documented(Fields.TENANTS, "tenants", "suboptions"), fields)
    _same(_documented(Run.DOCUMENTATION), options.TENANT_RUN_ARG_SPEC)
    _same(_documented(Where.DOCUMENTATION), options.TENANT_SECRETS_ARG_SPEC)
    # the two copies of the fields are the very same text
    assert _documented(Fields.DOCUMENTATION) == _documented(Fields.TENANTS, "tenants", "suboptions")


def test_argument_spec_merges_fresh_copies():
    merged = options.argument_spec(options.TENANT_SECRETS_ARG_SPEC, {"x": {"type": "str"}})
    assert set(merged) == set(options.TENANT_SECRETS_ARG_SPEC) | {"x"}
    merged["kuadrant_namespace"]["default"] = "changed"
    assert options.TENANT_SECRETS_ARG_SPEC["kuadrant_namespace"]["default"] == "kuadrant-system"


def test_the_field_spec_matches_what_validation_accepts():
    assert set(options.TENANT_FIELDS_ARG_SPEC) | {"create"} == set(tenant_spec.TENANT_FIELDS)
