"""The test world: the real upstream processes (and the few named stand-ins) that tests, benchmarks and
the demo run the collection against, on loopback only.

One module per component -- a process to build, start, check and stop, its ports, its log:

* ``controlplane``  kube-apiserver + etcd (Go modules under ``go/kube``, ``go/etcd``)
* ``authorino``     Authorino, the ext_authz engine Kuadrant deploys (``go/authorino``)
* ``redis``         a loopback ``redis-server`` (Debian package) for Limitador's Redis storage
* ``quota_harness`` wasm-shim's CEL crate over Limitador's library (Rust crate ``rust/quota_harness``)
* ``openai_server`` the OpenAI-compatible test server of the operate jobs
* ``microk8s_sim``  a stateful simulator of the ``microk8s`` CLI contract (stand-in: no snap here)

and what drives or reads them: ``base`` (state directory, process helpers), ``gobuild`` (the pinned
Go binaries, cached by version), ``audit`` (the API server's audit log), ``authorino_client`` (the
ext_authz ``Check`` call as wasm-shim sends it), ``kuadrant_outputs`` (what the real kuadrant-operator
generated: AuthConfigs, wasm-shim configuration, Limitador limits), ``kuadrant_site`` (a Gateway, its route and tier
policies on a cluster where kuadrant-operator runs), ``kuadrant_reference`` (stand-in for the
reference set's kuadrant-operator 1.4.3, AuthConfigs only), ``gateway_check`` (the demo's key check), ``awx_model``
(AWX's job-template semantics). The command line over all of it: ``python -m testworld --help``.

It is importable because scripts/bootstrap puts the repository root on the virtualenv's path (one
``.pth`` file); nothing edits ``sys.path``.
"""
