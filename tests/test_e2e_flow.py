"""End to end: the library drives a real browser through every scenario of the simulated site.

The scenarios run in a browser shared by the tests (``shared_browser``:
fresh cookies each time). That a fresh browser of each kind leaves nothing
behind, after a reading or an error, is checked where the browser's life is
the subject: tests/test_browsers.py and the CLI runs of tests/test_e2e_cli.py.
The login machine and the usage reader are unit tested on a fake driver
(tests/test_login.py, tests/test_reader.py).
"""
import os
import stat

import pytest

from xfinity_usage import AccessDeniedError, AccountActionRequiredError, BadCredentialsError
from xfinity_usage.browsers import BROWSERS
from xfinity_usage.simulator import DEMO_PASSWORD, DEMO_USERNAME

from .fixtures_clients import MATRIX_BROWSER, in_shared_browser

pytestmark = pytest.mark.e2e
shared = in_shared_browser


def check_reading(reading, site):
    expected = site.expected_reading()
    assert {k: reading[k] for k in ("units", "used", "total")} == expected
    assert isinstance(reading["data_timestamp"], int)


@shared
@pytest.mark.parametrize("scenario", ["normal", "legacy_form", "security_check"])
def test_login_and_json(make_site, make_client, tmp_path, scenario):
    site = make_site(scenario=scenario)
    c = make_client(site)
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


@shared
def test_json_endpoints_gone_scrapes_page(make_site, make_client):
    site = make_site(scenario="json_gone")
    reading = make_client(site).run()
    check_reading(reading, site)
    assert reading["raw"]["source"] == "usage-page"


@shared
def test_unlimited_plan(make_site, make_client):
    site = make_site(scenario="unlimited")
    reading = make_client(site).run()
    assert reading["total"] is None and reading["used"] == 424.0


@shared
def test_unlimited_404(make_site, make_client):
    site = make_site(scenario="unlimited_404")
    reading = make_client(site).run()
    assert reading["total"] is None and reading["used"] is None
    assert reading["raw"]["message"] == "Plan does not support the usage meter feature."


@shared
def test_bad_password_submits_once(make_site, make_client):
    site = make_site(scenario="normal")
    with pytest.raises(BadCredentialsError) as info:
        make_client(site, password="wrong-password-123").run()
    assert "wrong-password-123" not in str(info.value)
    assert site.password_submissions == 1


@shared
@pytest.mark.parametrize("scenario,message", [("mfa", None), ("password_reset", "new password")])
def test_account_action_required(make_site, make_client, scenario, message):
    site = make_site(scenario=scenario)
    with pytest.raises(AccountActionRequiredError, match=message):
        make_client(site).run()
    assert site.password_submissions == 1


@shared
def test_access_denied(make_site, make_client):
    site = make_site(scenario="access_denied")
    with pytest.raises(AccessDeniedError):
        make_client(site).run()
    assert site.password_submissions == 0
    # the next run backs off without touching the site, and says when it may try again
    seen = len(site.requests)
    with pytest.raises(AccessDeniedError, match="not trying again before .* --force"):
        make_client(site).run()
    assert len(site.requests) == seen
    with pytest.raises(AccessDeniedError, match="bot protection answered"):
        make_client(site, force=True).run()
    assert len(site.requests) > seen


#: The matrix's browsers: MATRIX_BROWSER runs each of its scenarios in the tests above.
OTHER_BROWSERS = [name for name in BROWSERS if name != MATRIX_BROWSER]


@shared
@pytest.mark.parametrize("scenario", ["normal", "legacy_form", "bad_password", "mfa"])
@pytest.mark.parametrize("browser_name", OTHER_BROWSERS)
def test_scenarios_in_every_browser(browser_name, make_site, make_client, scenario):
    """Issue 3's matrix: the main scenarios in all five browsers (MATRIX_BROWSER: the tests above;
    the JSON endpoints gone, read from the usage page: test_e2e_today's original markup, in each browser)."""
    site = make_site(scenario="normal" if scenario == "bad_password" else scenario)
    password = "wrong-password-123" if scenario == "bad_password" else DEMO_PASSWORD
    if scenario == "bad_password":
        with pytest.raises(BadCredentialsError):
            make_client(site, browser_name=browser_name, password=password).run()
    elif scenario == "mfa":
        with pytest.raises(AccountActionRequiredError):
            make_client(site, browser_name=browser_name).run()
    else:
        check_reading(make_client(site, browser_name=browser_name).run(), site)
    assert site.password_submissions == 1


def test_debug_screenshot_page_is_masked(site, shared_browser):
    """Before the failure screenshot, the username is starred in the page itself (text and fields)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from xfinity_usage.sources.site import mask_page

    with shared_browser.open(MATRIX_BROWSER) as driver:
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
