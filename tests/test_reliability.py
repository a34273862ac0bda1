"""Faults on every step: transient ones are survived with the right figure, permanent ones fail once."""
import pytest

from xfinity_usage import (
    AccessDeniedError,
    BadCredentialsError,
    SiteUnavailableError,
    XfinityUsage,
)
from xfinity_usage.simulator import DEMO_PASSWORD, DEMO_USERNAME, Fault

pytestmark = pytest.mark.e2e

CSP = "/apis/csp/account/me/services/internet/usage"
LEGACY = "/apis/services/internet/usage"
STEPS = {  # path -> host
    "/": "customer",
    "/oauth/authorize": "login",
    "/login": "login",
    "/oauth/callback": "customer",
    CSP: "customer",
}
TRANSIENT = ("blank", "error500", "error503", "reset", "slow", "truncated")


def run(site, tmp_path, password=DEMO_PASSWORD, **kw):
    client = XfinityUsage(DEMO_USERNAME, password, cookie_file=str(tmp_path / "cookies.json"),
                          browser_name="chrome-headless", urls=site.urls, reuse_session=False,
                          timeout=kw.pop("timeout", 90), **kw)
    return client.run()


def assert_right(reading, site):
    assert {k: reading[k] for k in ("units", "used", "total")} == site.expected_reading()


@pytest.mark.parametrize("kind", TRANSIENT)
@pytest.mark.parametrize("path", list(STEPS))
def test_transient_fault_on_each_step_is_survived(make_site, tmp_path, path, kind):
    site = make_site(faults=[Fault(path, kind, count=2, host=STEPS[path])], slow_seconds=1.0)
    assert_right(run(site, tmp_path), site)
    assert (path, kind) in site.injected  # a slow or truncated answer may well be used at once
    assert 1 <= site.password_submissions <= 2


@pytest.mark.parametrize("kind", ["truncated", "no_usage_months", "error503"])
def test_current_endpoint_failing_falls_back_to_legacy(make_site, tmp_path, kind):
    site = make_site(faults=[Fault(CSP, kind, count=100)])
    reading = run(site, tmp_path)
    assert_right(reading, site)
    assert "usageMonths" in reading["raw"]
    assert any(r[2].startswith(LEGACY) for r in site.requests)


def test_both_endpoints_failing_falls_back_to_the_page(make_site, tmp_path):
    site = make_site(faults=[Fault(CSP, "no_usage_months", count=100), Fault(LEGACY, "truncated", count=100)])
    reading = run(site, tmp_path)
    assert_right(reading, site)
    assert reading["raw"]["source"] == "usage-page"


def test_site_down_everywhere_fails_cleanly(make_site, tmp_path):
    site = make_site(faults=[Fault("/", "error503", count=1000)])
    with pytest.raises(SiteUnavailableError, match="try again later"):
        run(site, tmp_path, retries=2)
    assert site.password_submissions == 0


def test_access_denied_mid_login_is_not_retried(make_site, tmp_path):
    site = make_site(faults=[Fault("/login", "access_denied", count=1)])
    with pytest.raises(AccessDeniedError):
        run(site, tmp_path)
    assert site.password_submissions == 0
    assert len([r for r in site.requests if r[2].startswith("/login")]) == 1


def test_bad_password_after_a_transient_fault_is_submitted_once(make_site, tmp_path):
    site = make_site(faults=[Fault("/", "error500", count=1)])
    with pytest.raises(BadCredentialsError):
        run(site, tmp_path, password="not-the-password")
    assert site.password_submissions == 1


def test_deadline_bounds_the_run(make_site, tmp_path):
    import time

    site = make_site(faults=[Fault("/", "slow", count=1000)], slow_seconds=3.0)
    start = time.monotonic()
    with pytest.raises(SiteUnavailableError):
        run(site, tmp_path, timeout=8, retries=10)
    assert time.monotonic() - start < 25


@pytest.mark.parametrize("kind", ["blank", "error503", "reset", "truncated"])
def test_transient_fault_on_the_usage_page_step(make_site, tmp_path, kind):
    """With the JSON endpoints gone, faults on the page's own data request are survived too."""
    site = make_site(scenario="json_gone", faults=[Fault("/apis/usage-meter/data", kind, count=4)])
    reading = run(site, tmp_path)
    assert_right(reading, site)
    assert reading["raw"]["source"] == "usage-page"


@pytest.mark.parametrize("browser", ["firefox-headless", "phantomjs"])
@pytest.mark.parametrize("kind", ["reset", "error503", "blank"])
def test_fault_after_a_click_in_other_browsers(make_site, tmp_path, browser, kind):
    """geckodriver raises on a click whose navigation ends on an error page: that is transient too."""
    site = make_site(faults=[Fault("/login", kind, count=2, host="login", method="POST")])
    client = XfinityUsage(DEMO_USERNAME, DEMO_PASSWORD, cookie_file=str(tmp_path / "cookies.json"),
                          browser_name=browser, urls=site.urls, reuse_session=False, timeout=120)
    assert_right(client.run(), site)
    assert [k for _, k in site.injected] == [kind, kind]
    assert site.password_submissions <= 2
