"""The engines the conformance tests build are the ones the pinned Kuadrant release deploys."""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def engines():
    """The conformance tests still build the reference set's engines (Authorino v0.24.0, wasm-shim's cel 0.12.0,
    limitador 0.11.0); the current set's (Authorino v0.26.2, wasm-shim v0.14.1, Limitador v2.4.2) are not built yet."""
    defaults = yaml.safe_load((REPO / "roles" / "platform_defaults" / "defaults" / "main.yml").read_text())
    reference = defaults["tokenlabs_release_sets"]["reference"]
    assert reference["components"]["kuadrant"]["version"] == "1.4.3", "re-check every engine below when Kuadrant moves"
    return reference["kuadrant_engines"]


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
