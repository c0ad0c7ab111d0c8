"""The AI Gateway extproc's supervisor: the sidecar found in a Gateway's Envoy pod, its Secret, its command line."""

import base64
from pathlib import Path

from testworld import ai_gateway_extproc as extproc

SIDECAR = {"name": "ai-gateway-extproc", "restartPolicy": "Always", "args": [
    "-configPath", "/etc/filter-config/filter-config.yaml", "-logLevel", "info",
    "-extProcAddr", "unix:///etc/ai-gateway-extproc-uds/run.sock", "-adminPort", "1064",
    "-metricsRequestHeaderAttributes", "x-tokenlabs-tenant:tenant,x-tokenlabs-tier:tier", "-rootPrefix=/"]}


def pod(name, labels, init=(), containers=({"name": "envoy"},)):
    return {"metadata": {"name": name, "namespace": "envoy-gateway-system", "labels": labels},
            "spec": {"initContainers": list(init), "containers": list(containers)}}


OWNED = {"gateway.envoyproxy.io/owning-gateway-name": "token-labs-gateway",
         "gateway.envoyproxy.io/owning-gateway-namespace": "token-labs"}


def test_the_sidecar_of_each_gateway_is_found_in_its_envoy_pods():
    pods = [pod("envoy-b", OWNED, init=[SIDECAR]), pod("envoy-a", OWNED, containers=[{"name": "envoy"}, SIDECAR]),
            pod("other", {"app": "x"}, init=[SIDECAR]), pod("envoy-c", dict(OWNED, **{
                "gateway.envoyproxy.io/owning-gateway-name": "plain"}))]
    found = extproc.sidecars(pods)
    assert list(found) == ["token-labs/token-labs-gateway"]   # "plain" has no sidecar, "other" is no Envoy pod
    assert found["token-labs/token-labs-gateway"] == ("envoy-gateway-system", SIDECAR)  # first pod by name


def test_the_secret_is_named_after_the_gateway_and_decoded():
    assert extproc.config_secret_name("token-labs/token-labs-gateway") == "token-labs-gateway-token-labs"
    text = "version: dev\nbackends: []\n"
    assert extproc.config_text({"data": {"filter-config.yaml": base64.b64encode(text.encode()).decode()}}) == text
    assert extproc.config_text({"data": {}}) is None and extproc.config_text(None) is None


def test_only_the_config_path_and_the_listener_leave_the_pod():
    argv = extproc.extproc_argv("/bin/extproc", SIDECAR, Path("/w/token-labs/gw/filter-config.yaml"))
    assert argv == ["/bin/extproc", "-logLevel", "info",
                    "-metricsRequestHeaderAttributes", "x-tokenlabs-tenant:tenant,x-tokenlabs-tier:tier",
                    "-rootPrefix=/", "-configPath", "/w/token-labs/gw/filter-config.yaml",
                    "-extProcAddr", "127.0.0.1:1063", "-adminPort", "1064"]
    inline = extproc.extproc_argv("/bin/extproc", {"args": ["--configPath=/x", "-logLevel=debug"]}, Path("/c"))
    assert inline == ["/bin/extproc", "-logLevel=debug", "-configPath", "/c", "-extProcAddr", "127.0.0.1:1063",
                      "-adminPort", "1064"]
