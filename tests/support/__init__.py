"""Test support shared by the unit, integration and conformance tests and the benchmarks.

- ``support.cluster``: the session's local control plane (ControlPlane, kubectl, ansible-playbook runs).
- ``support.tenant_runner``: the tenant modules run through ansible, against a test namespace.
- ``support.module_run``, ``support.tiers``: a module run in-process; the reference tier table.

The processes themselves (control plane, Authorino, Redis, the quota harness, test servers) are the
test world, package ``testworld``.
"""
