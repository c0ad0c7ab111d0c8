"""The reference tier table (the one in roles/platform_defaults; _tiers/test_table.py checks they agree)."""

DEFAULT_TIERS = {
    "free": {"requests_per_minute": 10, "requests_per_day": 100, "tokens_per_minute": 5000,
             "tokens_per_day": 50000},
    "pro": {"requests_per_minute": 100, "requests_per_day": 5000, "tokens_per_minute": 50000,
            "tokens_per_day": 500000},
    "enterprise": {"requests_per_minute": 1000, "requests_per_day": 50000, "tokens_per_minute": 500000,
                   "tokens_per_day": 5000000},
}
