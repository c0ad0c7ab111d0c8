"""Test support shared by the unit, integration and conformance tests and the benchmarks.

- ``support.cluster``: the session's local control plane (ControlPlane, kubectl, ansible-playbook runs).
- ``support.audit``: the audit-log reader that proves which writes a run sent.
"""
