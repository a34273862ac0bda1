"""End to end: the library drives a real browser through every scenario of the simulated site."""
import os
import stat

import pytest

from xfinity_usage import (
    AccessDeniedError,
    AccountActionRequiredError,
    BadCredentialsError,
    XfinityUsage,
)
from xfinity_usage.simulator import DEMO_PASSWORD, DEMO_USERNAME

pytestmark = pytest.mark.e2e

SCENARIO_BROWSER = "chrome-headless"


def client(site, tmp_path, browser=SCENARIO_BROWSER, password=DEMO_PASSWORD, **kw):
    kw.setdefault("reuse_session", False)
    kw.setdefault("timeout", 90)
    return XfinityUsage(DEMO_USERNAME, password, cookie_file=str(tmp_path / "state" / "cookies.json"),
                        browser_name=browser, urls=site.urls, **kw)


def check_reading(reading, site):
    expected = site.expected_reading()
    assert {k: reading[k] for k in ("units", "used", "total")} == expected
    assert isinstance(reading["data_timestamp"], int)


@pytest.mark.parametrize("scenario", ["normal", "legacy_form", "security_check"])
def test_login_and_json(make_site, tmp_path, scenario):
    site = make_site(scenario=scenario)
    c = client(site, tmp_path)
    reading = c.run()
    check_reading(reading, site)
    assert len(reading["raw"]["usageMonths"]) == 6
    assert site.password_submissions == 1
    assert c.served_by == "browser"
    # the JSON came from the current endpoint, with the XSRF header
    csp = [r for r in site.requests if r[2].startswith("/apis/csp/")]
    assert csp and csp[-1][3].get("x-xsrf-token") or csp[-1][3].get("X-XSRF-TOKEN")
    path = tmp_path / "state" / "cookies.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert DEMO_PASSWORD not in path.read_text()


def test_json_endpoints_gone_scrapes_page(make_site, tmp_path):
    site = make_site(scenario="json_gone")
    reading = client(site, tmp_path).run()
    check_reading(reading, site)
    assert reading["raw"]["source"] == "usage-page"


def test_unlimited_plan(make_site, tmp_path):
    site = make_site(scenario="unlimited")
    reading = client(site, tmp_path).run()
    assert reading["total"] is None and reading["used"] == 424.0


def test_unlimited_404(make_site, tmp_path):
    site = make_site(scenario="unlimited_404")
    reading = client(site, tmp_path).run()
    assert reading["total"] is None and reading["used"] is None
    assert reading["raw"]["message"] == "Plan does not support the usage meter feature."


def test_bad_password_submits_once(make_site, tmp_path):
    site = make_site(scenario="normal")
    with pytest.raises(BadCredentialsError) as info:
        client(site, tmp_path, password="wrong-password-123").run()
    assert "wrong-password-123" not in str(info.value)
    assert site.password_submissions == 1


def test_mfa(make_site, tmp_path):
    site = make_site(scenario="mfa")
    with pytest.raises(AccountActionRequiredError):
        client(site, tmp_path).run()
    assert site.password_submissions == 1


def test_password_reset_demanded(make_site, tmp_path):
    site = make_site(scenario="password_reset")
    with pytest.raises(AccountActionRequiredError, match="new password"):
        client(site, tmp_path).run()
    assert site.password_submissions == 1


def test_access_denied(make_site, tmp_path):
    site = make_site(scenario="access_denied")
    with pytest.raises(AccessDeniedError):
        client(site, tmp_path).run()
    assert site.password_submissions == 0
    # the next run backs off without touching the site, and says when it may try again
    seen = len(site.requests)
    with pytest.raises(AccessDeniedError, match="not trying again before .* --force"):
        client(site, tmp_path).run()
    assert len(site.requests) == seen
    with pytest.raises(AccessDeniedError, match="bot protection answered"):
        client(site, tmp_path, force=True).run()
    assert len(site.requests) > seen


@pytest.mark.parametrize("scenario", ["normal", "legacy_form", "json_gone", "bad_password", "mfa"])
def test_scenarios_in_every_browser(browser_name, make_site, tmp_path, scenario):
    """Issue 3's matrix: the main scenarios in all five browsers, leaving no process behind."""
    from .proctools import assert_no_new_browser_processes

    site = make_site(scenario="normal" if scenario == "bad_password" else scenario)
    password = "wrong-password-123" if scenario == "bad_password" else DEMO_PASSWORD
    with assert_no_new_browser_processes():
        if scenario == "bad_password":
            with pytest.raises(BadCredentialsError):
                client(site, tmp_path, browser=browser_name, password=password).run()
        elif scenario == "mfa":
            with pytest.raises(AccountActionRequiredError):
                client(site, tmp_path, browser=browser_name).run()
        else:
            reading = client(site, tmp_path, browser=browser_name).run()
            check_reading(reading, site)
            if scenario == "json_gone":
                assert reading["raw"]["source"] == "usage-page"
    assert site.password_submissions == 1


def test_debug_screenshot_page_is_masked(site):
    """Before the failure screenshot, the username is starred in the page itself (text and fields)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from xfinity_usage.browsers import open_browser
    from xfinity_usage.site import mask_page

    with open_browser(SCENARIO_BROWSER) as driver:
        driver.get(site.urls["HOME_URL"])
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#user"))
        driver.find_element(By.CSS_SELECTOR, "#user").send_keys(DEMO_USERNAME)
        driver.find_element(By.CSS_SELECTOR, "#sign_in").click()
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#passwd"))
        driver.execute_script("document.body.appendChild(document.createTextNode(arguments[0]))",
                              "signed in as " + DEMO_USERNAME)
        user = driver.find_element(By.CSS_SELECTOR, "#user")
        assert user.get_property("value") == DEMO_USERNAME
        mask_page(driver, [DEMO_USERNAME, ""])
        assert user.get_property("value") == "********"
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "signed in as ********" in body and DEMO_USERNAME not in body
        assert DEMO_USERNAME not in driver.page_source
