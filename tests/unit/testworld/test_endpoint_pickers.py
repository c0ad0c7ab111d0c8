"""The endpoint-picker component of the test world: the picker's command line from the inferencepool chart's
Deployment, the endpoints it scrapes, its readiness (pure functions; the wrapper module pins GAIE v1.5.0)."""

from __future__ import annotations

from pathlib import Path

from testworld import endpoint_pickers, gobuild

# The epp container of inferencepool v1.5.0's Deployment as the chart renders it with the collection's values.
CHART_DEPLOYMENT = {
    "metadata": {"name": "sim-pool-epp"},
    "spec": {"template": {"spec": {
        "volumes": [{"name": "plugins-config-volume", "configMap": {"name": "sim-pool-epp"}}],
        "containers": [{
            "name": "epp", "image": "ghcr.io/llm-d/llm-d-inference-scheduler:v0.8.0",
            "args": ["--pool-name", "sim-pool", "--pool-namespace", "llm", "--pool-group", "inference.networking.k8s.io",
                     "--zap-encoder", "json", "--config-file", "/config/default-plugins.yaml", "--v", "1",
                     "--tracing=false", "--metrics-endpoint-auth=false"],
            "volumeMounts": [{"name": "plugins-config-volume", "mountPath": "/config"}]}]}}}}


def test_the_charts_container_and_its_plugin_config_are_found():
    container = endpoint_pickers.chart_container([{"metadata": {"name": "other"}, "spec": {}}, CHART_DEPLOYMENT],
                                                 "sim-pool")
    assert container["deployment"] == "sim-pool-epp"
    assert endpoint_pickers.config_source(container) == ("sim-pool-epp", "default-plugins.yaml")
    assert endpoint_pickers.chart_container([CHART_DEPLOYMENT], "another-pool") is None


def test_the_picker_runs_the_charts_arguments_with_the_config_moved_and_plaintext_serving():
    container = endpoint_pickers.chart_container([CHART_DEPLOYMENT], "sim-pool")
    argv = endpoint_pickers.picker_argv("/bin/epp", "llm", "sim-pool", container, Path("/w/llm/sim-pool/p.yaml"))
    assert argv == ["/bin/epp", "--pool-name", "sim-pool", "--pool-namespace", "llm", "--pool-group",
                    "inference.networking.k8s.io", "--zap-encoder", "json", "--config-file", "/w/llm/sim-pool/p.yaml",
                    "--v", "1", "--tracing=false", "--metrics-endpoint-auth=false", "--secure-serving=false",
                    "--enable-pprof=false"]


def test_a_pool_without_a_chart_gets_the_pickers_defaults():
    assert endpoint_pickers.picker_argv("/bin/epp", "ns", "p", None, None) == [
        "/bin/epp", "--pool-name=p", "--pool-namespace=ns", "--secure-serving=false", "--enable-pprof=false"]


def pod(name, ip, ready=True, labels=None, namespace="llm"):
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": "sim"}},
            "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_the_endpoints_are_the_ready_selected_pods_at_each_target_port_on_loopback_only():
    pool = {"metadata": {"name": "sim-pool", "namespace": "llm"},
            "spec": {"selector": {"matchLabels": {"app": "sim"}}, "targetPorts": [{"number": 8000}]}}
    endpoints, problems = endpoint_pickers.pool_endpoints(pool, [
        pod("a", "127.1.0.4"), pod("b", "127.1.0.5"), pod("not-ready", "127.1.0.6", ready=False),
        pod("other-app", "127.1.0.7", labels={"app": "x"}), pod("other-ns", "127.1.0.8", namespace="x"),
        pod("private", "10.1.0.9"),
    ])
    assert endpoints == {("127.1.0.4", 8000), ("127.1.0.5", 8000)}
    assert problems == ["llm/private: pod IP 10.1.0.9 is not in 127.0.0.0/8; not bridged"]


def test_the_ready_pods_gauge_is_read_per_pool():
    metrics = ('# TYPE inference_pool_ready_pods gauge\ninference_pool_ready_pods{name="sim-pool"} 2\n'
               'inference_pool_ready_pods{name="sim-pool-b"} 1\n')
    assert endpoint_pickers.ready_pods(metrics, "sim-pool") == 2
    assert endpoint_pickers.ready_pods(metrics, "missing") is None


def test_the_picker_is_pinned_in_its_wrapper_module():
    assert gobuild.pinned_version("endpoint-picker") == "v1.5.0"


def test_ready_only_in_the_ready_phase(ready_phases):
    assert ready_phases(endpoint_pickers.supervisor_ready) == {"ready"}
