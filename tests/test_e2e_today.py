"""Issue 11 end to end: today's site in real browsers against the simulated site.

A moved account (read from the account page's own BillingInfo/context call,
in the four browsers that can; PhantomJS says it cannot), the 2024 api.sc
endpoint alone, 3.0.4's usage page markup (and a redesign found by its
text), months listed newest first, and the unlimited variants.
"""
import logging
import os
import stat

import pytest

from xfinity_usage import XfinityUsage
from xfinity_usage.errors import BrowserError
from xfinity_usage.simulator import data, routes
from xfinity_usage.sources import moved_marker

from .fixtures_browsers import ENGINES
from .fixtures_clients import FAST, in_shared_browser

# Each test signs in with the session's running browser of its name (fresh cookies each time).
pytestmark = [pytest.mark.e2e, in_shared_browser]

#: The browsers that can read a moved account.
FOUR = ("chrome-headless", "chrome", "firefox-headless", "firefox")
#: Their engines: the windowed two run the same (tests/fixtures_browsers.py's ENGINES).
TWO = ("chrome-headless", "firefox-headless")


@pytest.fixture(params=TWO)
def browser(request):
    """Chromium and Firefox, headless: what the page and its data requests do, in each engine."""
    return request.param


def client(site, browser_name, tmp_path, **kwargs):
    kwargs.setdefault("reuse_session", False)
    return XfinityUsage(site.username, site.password, browser_name=browser_name, urls=site.urls,
                        cookie_file=str(tmp_path / "state" / "cookies.json"), timeout=90, retries=1,
                        timeouts=FAST, **kwargs)


def customer_api_calls(site):
    return [(host, path) for host, _method, path, _headers in site.requests if "/apis/" in path]


def billing_calls(site):
    return [headers for host, method, path, headers in site.requests
            if host == "account" and method == "POST" and path == routes.BILLING_CONTEXT_PATH]


# -- a moved account ----------------------------------------------------------------------------------


def test_moved_account(browser, make_site, tmp_path):
    site = make_site(scenario="moved")
    reader = client(site, browser, tmp_path)
    reading = reader.read()
    assert (reading.used, reading.total, reading.units) == (424.0, 1229.0, "GB")
    assert len(reading.months) == data.MOVED_MONTHS and reading.source == "browser"
    assert customer_api_calls(site) == []  # the sign-in ended on the account page: no dead endpoint asked
    calls = billing_calls(site)
    assert len(calls) >= 1  # the page's own call (before the script was in, and again after)
    headers = {k.lower(): v for k, v in calls[-1].items()}
    assert headers["authorization"].startswith("Bearer ") and headers["sec-fetch-site"] == "same-origin"
    marker = moved_marker(reader.cookie_file)
    assert stat.S_IMODE(os.stat(marker).st_mode) == 0o600


def test_moved_account_in_phantomjs_is_a_clear_error(make_site, tmp_path):
    site = make_site(scenario="moved")
    reader = client(site, "phantomjs", tmp_path)
    with pytest.raises(BrowserError) as info:
        reader.read()
    message = str(info.value)
    assert "phantomjs cannot read accounts moved" in message
    assert all(name in message for name in FOUR)
    assert os.path.exists(moved_marker(reader.cookie_file))  # the next run skips the saved session too


def test_moved_account_skips_the_saved_session(make_site, tmp_path):
    site = make_site(scenario="moved")
    first = client(site, "firefox-headless", tmp_path, reuse_session=True)
    assert first.read().used == 424.0 and first.served_by == "browser"
    assert os.path.exists(first.cookie_file) and os.path.exists(moved_marker(first.cookie_file))
    before = len(site.requests)
    again = client(site, "firefox-headless", tmp_path, reuse_session=True)
    assert again.read().used == 424.0 and again.served_by == "browser"
    # the saved session went straight to the browser: not one call to the customer site's APIs
    assert customer_api_calls(site) == [] and len(site.requests) > before


# -- the 2024 api.sc endpoint, alone -------------------------------------------------------------------


@pytest.mark.parametrize("browser_name", ENGINES)
def test_api_sc_only(browser_name, make_site, tmp_path):
    site = make_site(scenario="api_sc")
    reading = client(site, browser_name, tmp_path).read()
    assert (reading.used, reading.total) == (424.0, 1229.0) and reading.raw["usageMonths"]
    hosts = [(host, path.split("?")[0]) for host, _m, path, _h in site.requests if host == "api"]
    assert ("api", routes.SC_USAGE_PATH) in hosts
    assert ("customer", routes.LEGACY_USAGE_PATH) not in customer_api_calls(site)  # api.sc answered first


# -- the usage page: 3.0.4's markup, and a redesign found by its text --------------------------------------


@pytest.mark.parametrize("browser_name", ENGINES)
def test_original_markup_scrape(browser_name, make_site, tmp_path, caplog):
    site = make_site(scenario="json_gone")
    with caplog.at_level(logging.INFO, logger="xfinity_usage.sources.reader"):
        reading = client(site, browser_name, tmp_path).read()
    assert (reading.used, reading.total, reading.units) == (424.0, 1229.0, "GB")
    assert reading.raw["source"] == "usage-page" and reading.raw["usageRows"][-1][0] == "424GB"
    assert "usage page read by selectors" in caplog.text


@pytest.mark.parametrize("name", ["chrome-headless", "phantomjs"])
def test_redesigned_page_found_by_text(name, make_site, tmp_path, caplog):
    site = make_site(scenario="scrape_text")
    with caplog.at_level(logging.INFO, logger="xfinity_usage.sources.reader"):
        reading = client(site, name, tmp_path).read()
    assert (reading.used, reading.total) == (424.0, 1229.0)
    assert "usage page read by text" in caplog.text


# -- the month, and the unlimited variants ---------------------------------------------------------------


def test_months_reversed(browser, make_site, tmp_path):
    site = make_site(scenario="months_reversed")
    reading = client(site, browser, tmp_path).read()
    assert (reading.used, reading.total) == (424.0, 1229.0)
    assert reading.raw["usageMonths"][0]["homeUsage"] == 424.0  # newest first, as sent
    assert [m.used for m in reading.months] == [801.0, 912.0, 1011.0, 978.0, 1102.0, 424.0]  # oldest first


#: Each engine reads variants, each variant is read by at least one (four runs, not twelve).
VARIANTS = [("chrome-headless", "unlimited_zero"), ("chrome-headless", "unlimited_large"),
            ("firefox-headless", "unlimited_name"), ("firefox-headless", "unlimited_large")]


@pytest.mark.parametrize(("name", "scenario"), VARIANTS)
def test_unlimited_variants(name, scenario, make_site, tmp_path):
    site = make_site(scenario=scenario)
    assert "policy" not in site.usage_json()["usageMonths"][-1]  # only the allowance or the name says so
    reading = client(site, name, tmp_path).read()
    assert reading.unlimited and reading.used == 424.0 and reading.total is None
    assert site.expected_reading() == {"units": "GB", "used": 424.0, "total": None}


def test_every_unlimited_variant_is_covered():
    assert {scenario for _, scenario in VARIANTS} == set(data.UNLIMITED_VARIANTS)
    assert {name for name, _ in VARIANTS} == set(TWO)
