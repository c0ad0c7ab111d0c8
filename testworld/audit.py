"""Reading the local control plane's audit log: which writes a run really sent.

The API server writes one JSON event per line (testworld.controlplane starts it with
an audit policy that logs every request). Tests and benchmarks use this to prove
"no write" (a converged rerun) and to count writes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path


WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


def audit_writes(audit_log: Path, mark: int = 0) -> list[dict]:
    """Write requests the API server logged after byte offset ``mark``.

    Only completed, non-dry-run create/update/patch/delete events; each is the
    audit event as JSON (``verb``, ``objectRef``, ``user``, ``requestURI``...).
    """
    events = []
    try:
        with open(audit_log, "rb") as fh:
            fh.seek(mark)
            for line in fh:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # a line still being written
                if (event.get("stage") == "ResponseComplete" and event.get("verb") in WRITE_VERBS
                        and "dryRun=All" not in event.get("requestURI", "")):
                    events.append(event)
    except FileNotFoundError:
        pass
    return events


def settled_audit_writes(audit_log: Path, mark: int, make_sentinel, sentinel: str,
                         timeout: float = 15.0) -> list[dict]:
    """:func:`audit_writes` once the log has caught up.

    ``make_sentinel()`` writes an object named ``sentinel``; when the log shows
    it, every earlier write is in the log too. The sentinel is left out.
    """
    make_sentinel()
    deadline = time.monotonic() + timeout
    while True:
        writes = audit_writes(audit_log, mark)
        if any((w.get("objectRef") or {}).get("name") == sentinel for w in writes):
            return [w for w in writes if (w.get("objectRef") or {}).get("name") != sentinel]
        if time.monotonic() > deadline:
            raise AssertionError(f"the audit log {audit_log} did not record the sentinel write {sentinel}")
        time.sleep(0.1)
