"""The engines the conformance tests build are the ones the pinned Kuadrant release deploys."""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def engines():
    """The conformance tests build the current set's engines: Authorino v0.26.1 (v0.26.2, which the chart deploys, is
    refused by the module proxy), wasm-shim v0.14.1's cel crate, Limitador v2.4.2's limitador crate."""
    defaults = yaml.safe_load((REPO / "roles" / "platform_defaults" / "defaults" / "main.yml").read_text())
    current = defaults["tokenlabs_release_sets"]["current"]
    assert current["components"]["kuadrant"]["version"] == "1.5.2", "re-check every engine below when Kuadrant moves"
    return dict(current["kuadrant_engines"], authorino=current["kuadrant_engines"]["authorino_tested"])


def test_authorino_wrapper_module_pins_the_deployed_version():
    gomod = (REPO / "testworld" / "go" / "authorino" / "go.mod").read_text()
    assert re.search(r"^require github.com/kuadrant/authorino (\S+)$", gomod, re.M).group(1) == engines()["authorino"]
    gosum = (REPO / "testworld" / "go" / "authorino" / "go.sum").read_text()
    assert f"github.com/kuadrant/authorino {engines()['authorino']} h1:" in gosum


def test_quota_harness_pins_the_crates_of_wasm_shim_and_limitador():
    cargo = (REPO / "testworld" / "rust" / "quota_harness" / "Cargo.toml").read_text()
    lock = (REPO / "testworld" / "rust" / "quota_harness" / "Cargo.lock").read_text()
    for crate, key in (("cel", "wasm_shim_cel_crate"), ("limitador", "limitador_crate")):
        assert re.search(rf'^{crate} = .*"={re.escape(engines()[key])}"', cargo, re.M), crate
        assert f'name = "{crate}"\nversion = "{engines()[key]}"' in lock, crate


def test_benchmark_client_pins_in_the_test_virtualenv_equal_the_jobs_pins():
    defaults = yaml.safe_load((REPO / "roles" / "platform_defaults" / "defaults" / "main.yml").read_text())
    requirements = (REPO / "requirements-test.txt").read_text()
    for pin in defaults["tokenlabs_benchmark_packages"]:
        assert re.search(r"^%s\s" % re.escape(pin), requirements, re.M), pin
    assert defaults["tokenlabs_accuracy_packages"] == ["lm-eval[api,ifeval]==0.4.13"], "re-check docs/accuracy.md"


def test_platform_controllers_in_the_test_world_are_the_current_sets():
    """The controllers `python -m testworld up platform` builds are the current release set's versions (where the
    module proxy serves them; the README names the one patch of skew: authorino-operator)."""
    defaults = yaml.safe_load((REPO / "roles" / "platform_defaults" / "defaults" / "main.yml").read_text())
    components = defaults["tokenlabs_release_sets"]["current"]["components"]

    def required(wrapper, module):
        gomod = (REPO / "testworld" / "go" / wrapper / "go.mod").read_text()
        return re.search(rf"^require {re.escape(module)} (\S+)$", gomod, re.M).group(1)

    assert required("envoy_gateway", "github.com/envoyproxy/gateway") == components["envoy_gateway"]["version"]
    assert required("ai_gateway", "github.com/envoyproxy/ai-gateway") == components["ai_gateway"]["version"]
    assert required("kuadrant_operator", "github.com/kuadrant/kuadrant-operator") == \
        "v" + components["kuadrant"]["version"]
    # kuadrant-operator 1.5.2's chart pins limitador-operator 0.18.3 and authorino-operator 0.25.2 (0.25.2 is
    # refused by the module proxy: the newest served, 0.25.1, runs)
    assert required("limitador_operator", "github.com/kuadrant/limitador-operator") == "v0.18.3"
    assert required("authorino_operator", "github.com/kuadrant/authorino-operator") == "v0.25.1"
