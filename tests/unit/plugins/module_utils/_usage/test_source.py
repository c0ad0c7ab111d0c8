"""The options the usage modules share: the period and the Prometheus URL checked together."""

from datetime import date

from ansible_collections.tokenlabs.inference.plugins.module_utils._usage import source


def test_the_shared_options_are_checked_together():
    params = {"prometheus_url": "ftp://p", "prometheus_token": "t", "validate_certs": False, "timeout": 0,
              "month": None, "first_day": "2026-11-02", "last_day": "2026-11-01"}
    period, errors = source.check_source(params, date(2026, 12, 4))
    assert period is None and errors == ["first_day: 2026-11-02 is after last_day 2026-11-01; the range must run forward",
                                         "prometheus_url: 'ftp://p' is not an http(s) URL",
                                         "timeout: 0 is not allowed; use seconds >= 1"]
    prometheus = source.prometheus_of(dict(params, prometheus_url="http://p:9090/"))
    assert (prometheus.url, prometheus.headers, prometheus.validate_certs) == (
        "http://p:9090", {"Authorization": "Bearer t"}, False)
    assert set(source.USAGE_SOURCE_ARG_SPEC) == {"prometheus_url", "prometheus_token", "validate_certs", "timeout",
                                                 "month", "first_day", "last_day"}
