"""Reading the usage against a fake driver and a fake clock: every endpoint and usage-page fault, no browser."""
import datetime
import json
from urllib.parse import quote

import pytest
from selenium.common.exceptions import JavascriptException

from xfinity_usage.sources import usage
from xfinity_usage.errors import (
    AccessDeniedError,
    DataError,
    SiteChangedError,
    SiteUnavailableError,
)
from xfinity_usage.sources.pages import Timeouts
from xfinity_usage.sources.reader import XSRF_HEADER, UsageReader
from xfinity_usage.retry import Deadline
from xfinity_usage.simulator import data

from .fakedriver import (
    URLS,
    FakeClock,
    FakeDriver,
    access_denied_page,
    blank_page,
    error_page,
    home_page,
    loading_page,
    usage_page,
    usage_page_error,
)

CSP, LEGACY, PAGE = URLS["USAGE_JSON_URL"], URLS["LEGACY_USAGE_JSON_URL"], URLS["USAGE_PAGE_URL"]
XSRF = "k2Jf+Y0a/bQ9xw=="  # standard base64: the cookie holds it URL-encoded
TIMEOUTS = Timeouts(step=30.0, other_page_grace=5.0, poll=0.5)
BODY = json.dumps(data.usage_json(datetime.date(2026, 11, 15)))  # a fixed day, not today
NOT_SUPPORTED = json.dumps(data.NOT_SUPPORTED)
NOT_FOUND_HTML = "<html><title>404 Not Found</title></html>"


@pytest.fixture
def clock():
    return FakeClock(1000.0)


@pytest.fixture
def made(monkeypatch):
    """What each usage function returned, by name: the reader must hand back exactly that, untouched."""
    out = {}
    for name in ("reading_from_json", "unlimited_reading", "reading_from_page"):
        real = getattr(usage, name)

        def record(*args, _real=real, _name=name, **kwargs):
            out[_name] = _real(*args, **kwargs)
            return out[_name]

        monkeypatch.setattr(usage, name, record)
    return out


def driver_on_home(**answers):
    driver = FakeDriver(home_page(), cookies={"XSRF-TOKEN": quote(XSRF, safe="")})
    driver.on("get", PAGE, usage_page())
    for url, queue in answers.items():
        driver.answer({"csp": CSP, "legacy": LEGACY}[url], *queue)
    return driver


def reader(driver, clock, *, retries=3, deadline=600.0):
    return UsageReader(driver, URLS, Deadline(deadline, clock=clock), retries=retries, timeouts=TIMEOUTS,
                       clock=clock, sleep=clock.sleep)


def asked(driver, url):
    return [h for u, h in driver.xhrs if u == url]


# -- the current endpoint ----------------------------------------------------------------------


def test_current_endpoint(clock, made):
    driver = driver_on_home(csp=[(200, BODY)])
    r = reader(driver, clock)
    assert r.read() is made["reading_from_json"]
    assert r.source == "USAGE_JSON_URL"
    assert asked(driver, LEGACY) == [] and driver.count("get") == 0 and clock.sleeps == []


def test_xsrf_header_is_the_unquoted_cookie(clock, made):
    driver = driver_on_home(csp=[(200, BODY)])
    reader(driver, clock).read()
    (headers,) = asked(driver, CSP)
    assert headers[XSRF_HEADER] == XSRF != driver.cookies["XSRF-TOKEN"]
    assert headers["Accept"] == "application/json"


def test_no_xsrf_cookie_sends_no_header(clock, made):
    driver = driver_on_home(csp=[(403, '{"code": "FORBIDDEN"}')], legacy=[(200, BODY)])
    driver.cookies.clear()
    r = reader(driver, clock)
    assert r.read() is made["reading_from_json"] and r.source == "LEGACY_USAGE_JSON_URL"
    assert XSRF_HEADER not in asked(driver, CSP)[0]
    assert XSRF_HEADER not in asked(driver, LEGACY)[0]  # the legacy endpoint never gets it


def test_script_timeout_is_the_step_capped_by_the_deadline(clock, made):
    driver = driver_on_home(csp=[(200, BODY)])
    reader(driver, clock, deadline=12).read()
    assert ("script timeout", 12.0) in driver.log


@pytest.mark.parametrize("failure", [(503, "<html>503</html>"), (500, ""), (0, ""), JavascriptException("timeout"),
                                     (200, BODY[: len(BODY) // 2])])
def test_transient_failure_is_retried(clock, made, failure):
    driver = driver_on_home(csp=[failure, failure, (200, BODY)])
    r = reader(driver, clock)
    assert r.read() is made["reading_from_json"] and r.source == "USAGE_JSON_URL"
    assert len(asked(driver, CSP)) == 3 and asked(driver, LEGACY) == []
    assert len(clock.sleeps) == 2  # backoff, on the injected sleep


@pytest.mark.parametrize("failure", [(503, "<html>503</html>"), (200, BODY[: len(BODY) // 2]),
                                     (200, json.dumps({"accountNumber": "1"}))])  # no usageMonths
def test_current_endpoint_failing_falls_back_to_legacy(clock, made, failure):
    driver = driver_on_home(csp=[failure], legacy=[(200, BODY)])
    r = reader(driver, clock, retries=2)
    assert r.read() is made["reading_from_json"] and r.source == "LEGACY_USAGE_JSON_URL"
    assert len(asked(driver, CSP)) == 3  # retried, then given up


@pytest.mark.parametrize("status", [401, 403, 404, 302])
def test_refusals_are_not_retried(clock, made, status):
    driver = driver_on_home(csp=[(status, NOT_FOUND_HTML)], legacy=[(200, BODY)])
    r = reader(driver, clock)
    assert r.read() is made["reading_from_json"] and r.source == "LEGACY_USAGE_JSON_URL"
    assert len(asked(driver, CSP)) == 1 and clock.sleeps == []


def test_not_supported_404_is_an_unlimited_plan(clock, made):
    driver = driver_on_home(csp=[(404, NOT_SUPPORTED)])
    r = reader(driver, clock)
    assert r.read() is made["unlimited_reading"] and r.source == "USAGE_JSON_URL"
    assert "reading_from_json" not in made and asked(driver, LEGACY) == []


def test_not_supported_404_on_legacy(clock, made):
    driver = driver_on_home(csp=[(403, "{}")], legacy=[(404, NOT_SUPPORTED)])
    r = reader(driver, clock)
    assert r.read() is made["unlimited_reading"] and r.source == "LEGACY_USAGE_JSON_URL"


def test_bad_data_is_not_hidden(clock, made):
    """JSON whose numbers are wrong is a data error, not a reason to scrape the page."""
    bad = json.loads(BODY)
    bad["usageMonths"][-1]["unitOfMeasure"] = "furlongs"
    driver = driver_on_home(csp=[(200, json.dumps(bad))], legacy=[(200, json.dumps(bad))])
    driver.scripts[("get", PAGE)] = [home_page(PAGE)]  # and no meter on the page
    with pytest.raises(DataError, match="furlongs"):
        reader(driver, clock).read()


# -- the usage page ----------------------------------------------------------------------------


def test_both_endpoints_gone_scrapes_the_page(clock, made):
    driver = driver_on_home(csp=[(404, NOT_FOUND_HTML)], legacy=[(404, NOT_FOUND_HTML)])
    r = reader(driver, clock)
    assert r.read() is made["reading_from_page"] and r.source == "USAGE_PAGE_URL"
    assert driver.count("get", PAGE) == 1


def test_page_still_rendering_is_waited_for(clock, made):
    driver = driver_on_home(csp=[(404, "")], legacy=[(404, "")])
    driver.scripts[("get", PAGE)] = [[loading_page(PAGE), home_page(PAGE), home_page(PAGE), usage_page()]]
    r = reader(driver, clock)
    assert r.read() is made["reading_from_page"] and r.source == "USAGE_PAGE_URL"
    assert driver.count("get", PAGE) == 1 and clock.sleeps == [TIMEOUTS.poll] * 3


@pytest.mark.parametrize("failing", [usage_page_error, lambda: error_page(PAGE), lambda: blank_page(PAGE)])
def test_failing_usage_page_is_retried(clock, made, failing):
    driver = driver_on_home(csp=[(404, "")], legacy=[(404, "")])
    driver.scripts[("get", PAGE)] = [failing(), usage_page()]
    r = reader(driver, clock)
    assert r.read() is made["reading_from_page"]
    # the second load is a refresh: a new hash alone would reload nothing
    assert driver.count("get", PAGE) == 1 and driver.count("refresh", PAGE) == 1
    assert len(clock.sleeps) == 1


def test_usage_page_failing_for_good(clock, made):
    driver = driver_on_home(csp=[(503, "")], legacy=[(503, "")])
    driver.scripts[("get", PAGE)] = [usage_page_error()]
    with pytest.raises(SiteUnavailableError, match="kept failing while reading the usage; try again later"):
        reader(driver, clock, retries=2).read()
    assert driver.count("get", PAGE) + driver.count("refresh", PAGE) == 3


def test_access_denied_on_the_usage_page(clock, made):
    driver = driver_on_home(csp=[(403, "")], legacy=[(403, "")])
    driver.scripts[("get", PAGE)] = [access_denied_page(PAGE)]
    with pytest.raises(AccessDeniedError):
        reader(driver, clock).read()
    assert driver.count("get", PAGE) == 1


def test_usage_gone_everywhere_is_site_changed(clock, made):
    driver = driver_on_home(csp=[(404, NOT_FOUND_HTML)], legacy=[(404, NOT_FOUND_HTML)])
    driver.scripts[("get", PAGE)] = [home_page(PAGE)]  # a logged-in page without the meter
    start = clock()
    with pytest.raises(SiteChangedError) as info:
        reader(driver, clock).read()
    message = str(info.value)
    assert CSP in message and LEGACY in message and "monthlyUsageState" in message and "report" in message
    assert driver.count("get", PAGE) == 1  # not retried
    assert clock() - start == pytest.approx(TIMEOUTS.step)  # waited one step, on the fake clock


def test_meter_the_data_rejects(clock, made):
    driver = driver_on_home(csp=[(404, "")], legacy=[(404, "")])
    driver.scripts[("get", PAGE)] = [usage_page(used="12GB")]  # the table disagrees with the meter
    with pytest.raises(DataError):
        reader(driver, clock).read()


# -- the deadline ---------------------------------------------------------------------------------


def test_deadline_bounds_the_json_retries(clock, made):
    driver = driver_on_home(csp=[(503, "")])
    with pytest.raises(SiteUnavailableError, match="gave up after 3 s while reading the usage"):
        reader(driver, clock, retries=100, deadline=3).read()
    assert clock() <= 1000.0 + 3


def test_deadline_bounds_the_page(clock, made):
    driver = driver_on_home(csp=[(404, "")], legacy=[(404, "")])
    driver.scripts[("get", PAGE)] = [blank_page(PAGE)]
    r = UsageReader(driver, URLS, Deadline(20, clock=clock), retries=100, timeouts=TIMEOUTS, clock=clock,
                    sleep=lambda s: clock.sleep(s + 5))  # every pause runs long
    with pytest.raises((SiteUnavailableError, SiteChangedError), match="gave up after 20 s"):
        r.read()
    assert clock() <= 1000.0 + 20 + 5 + TIMEOUTS.poll


# -- the facade ---------------------------------------------------------------------------------


def test_site_flow_facade(clock, made):
    """SiteFlow, as the client uses it: login(), read_usage(), .source and .password_submissions."""
    from xfinity_usage.secrets import Secret
    from xfinity_usage.sources.site import SiteFlow

    from .fakedriver import HOME, password_page, username_page

    driver = driver_on_home(csp=[(503, "")], legacy=[(200, BODY)])
    driver.on("get", HOME, username_page()).on("click", "#sign_in", password_page(), home_page())
    flow = SiteFlow(driver, URLS, "me@example.com", Secret("pw-123456"), Deadline(600, clock=clock), retries=1,
                    timeouts=Timeouts(step=7.0), clock=clock, sleep=clock.sleep)
    assert flow.source is None and flow.password_submissions == 0
    flow.login()
    assert flow.password_submissions == 1
    assert flow.read_usage() is made["reading_from_json"]
    assert flow.source == "LEGACY_USAGE_JSON_URL"
    assert len(asked(driver, CSP)) == 2 and len(clock.sleeps) == 1  # one retry, backed off on the fake clock
    assert ("script timeout", 7.0) in driver.log
