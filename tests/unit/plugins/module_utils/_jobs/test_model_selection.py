"""The models an operate job works on, by name or id, in catalog order; unknown ones named."""

from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import model_selection as selection

CATALOG = [{"id": "meta-llama/Llama-3.1-8B-Instruct", "name": "llama-3-1-8b"}, {"id": "Qwen/Qwen2.5-7B", "name": "qwen"}]


def test_models_by_name_or_id_in_catalog_order():
    assert selection.select_models(CATALOG, ["qwen", "meta-llama/Llama-3.1-8B-Instruct"]) == (CATALOG, [])
    assert selection.select_models(CATALOG, ["qwen", "Qwen/Qwen2.5-7B"]) == (CATALOG[1:], [])
    assert selection.select_models(CATALOG, []) == (CATALOG, [])


def test_unknown_model_names_what_is_allowed():
    assert selection.select_models(CATALOG, ["gpt-4"]) == (
        [], ["models: 'gpt-4' is not in the model catalog; allowed (name or id): llama-3-1-8b, qwen"])


def test_models_scaled_to_zero_are_left_out_or_refused():
    catalog = CATALOG + [{"id": "off/model", "name": "off", "replicas": 0}]
    assert selection.select_models(catalog, []) == (CATALOG, [])
    assert selection.select_models(catalog, ["off"])[1] == [
        "models: 'off' has replicas 0 in the model catalog (nothing serves it); allowed: models with replicas >= 1"]
    assert selection.select_models(catalog[2:], [])[1] == ["catalog: every model has replicas 0; nothing is served"]


def test_empty_or_malformed_catalog():
    assert selection.select_models([], [])[1] == [
        "catalog: the model catalog (tokenlabs_models) is empty; nothing to run"]
    assert selection.select_models([{"id": "x"}], [])[1] == [
        "catalog[0]: a model needs 'id' and 'name', got {'id': 'x'}"]


def test_the_option_spec_matches_the_doc_fragment():
    import yaml
    from ansible_collections.tokenlabs.inference.plugins.doc_fragments.model_selection import ModuleDocFragment
    options = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(options) == set(selection.MODEL_SELECTION_ARG_SPEC)
    for name, spec in selection.MODEL_SELECTION_ARG_SPEC.items():
        assert options[name]["type"] == spec["type"] and options[name].get("elements") == spec.get("elements")
        assert options[name].get("default") == spec.get("default")
