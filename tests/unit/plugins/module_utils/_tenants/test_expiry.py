"""Keys ending soon: tenant expiries and rotation grace periods within the window, soonest first."""

from datetime import datetime, timezone

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import expiry

NOW = datetime(2026, 12, 4, tzinfo=timezone.utc)
VIEWS = [
    {"name": "acme", "secret": "tenant-acme", "fingerprint": "sha256:a", "expires_at": "2026-12-10T00:00:00Z",
     "rotation": {"pending": True, "retired_keys": [{"secret": "tenant-acme.retired-1", "fingerprint": "sha256:b",
                                                     "retires_at": "2026-12-05T12:00:00Z"}]}},
    {"name": "beta", "secret": "tenant-beta", "fingerprint": "sha256:c", "expires_at": "2027-03-01T00:00:00Z"},
    {"name": "gone", "secret": "tenant-gone", "fingerprint": "sha256:d", "expires_at": "2026-12-01T00:00:00Z"},
    {"name": "open", "secret": "tenant-open", "fingerprint": "sha256:e", "expires_at": None},
]


def test_what_ends_within_the_window_soonest_first():
    assert expiry.ending_soon(VIEWS, NOW, 14 * 86400) == [
        {"tenant": "acme", "kind": "rotation grace ends", "secret": "tenant-acme.retired-1", "fingerprint": "sha256:b",
         "at": "2026-12-05T12:00:00Z", "days_left": 1.5,
         "line": "acme: rotation grace ends 2026-12-05T12:00:00Z (in 1.5 days; tenant-acme.retired-1, sha256:b)"},
        {"tenant": "acme", "kind": "tenant expires", "secret": "tenant-acme", "fingerprint": "sha256:a",
         "at": "2026-12-10T00:00:00Z", "days_left": 6.0,
         "line": "acme: tenant expires 2026-12-10T00:00:00Z (in 6.0 days; tenant-acme, sha256:a)"}]


def test_nothing_outside_the_window_and_never_what_already_expired():
    assert expiry.ending_soon(VIEWS, NOW, 86400) == []
    assert [e["tenant"] for e in expiry.ending_soon(VIEWS, NOW, 120 * 86400)] == ["acme", "acme", "beta"]
