"""Issue 11 on the fake driver: moved accounts, the api.sc endpoint, 3.0.4's scrape, the moved marker.

No browser: a :class:`FakeDriver` that can also take a preload script (over
CDP like Chrome, over BiDi like Firefox, or not at all like PhantomJS) and
shows what the preload script kept of the account page's own call.
"""
import datetime
import json
import os
import re
import stat
from urllib.parse import quote

import pytest

from xfinity_usage import XfinityUsage
from xfinity_usage.sources import pages, usage
from xfinity_usage.errors import (
    AccessDeniedError,
    BrowserError,
    DataError,
    SiteChangedError,
    SiteUnavailableError,
)
from xfinity_usage.sources.pages import PageKind, Timeouts, classify
from xfinity_usage.sources.reader import BILLING_JS, BILLING_SLOT, MOVED_BROWSERS, UsageReader
from xfinity_usage.retry import Deadline
from xfinity_usage.sources import SessionSource, moved_marker, remember_moved
from xfinity_usage.simulator import data

from .fakedriver import (
    URLS as OLD_URLS,
    FakeClock,
    FakeDriver,
    access_denied_page,
    error_page,
    home_page,
    state,
)

HOME = OLD_URLS["HOME_URL"]
ACCOUNT = "https://www.example.com/account"
URLS = {**OLD_URLS, "SC_USAGE_JSON_URL": "https://api.sc.example.com/session/csp/selfhelp/account/me/services/internet/usage",
        "ACCOUNT_URL": ACCOUNT, "BILLING_CONTEXT_URL": "https://www.example.com/digital/service/api/BillingInfo/context"}
CSP, SC, LEGACY = URLS["USAGE_JSON_URL"], URLS["SC_USAGE_JSON_URL"], URLS["LEGACY_USAGE_JSON_URL"]
TIMEOUTS = Timeouts(step=30.0, other_page_grace=5.0, poll=0.5)
TODAY = datetime.date(2026, 11, 15)  # the simulated data's day: a fixed one, not today
BODY = json.dumps(data.usage_json(TODAY))
CONTEXT = json.dumps(data.billing_context(TODAY, "moved"))
UNAUTHORIZED = json.dumps({"code": "UNAUTHORIZED"})
CHROME = {"browserName": "chrome"}
FIREFOX = {"browserName": "firefox", "webSocketUrl": "ws://127.0.0.1:1/session/x"}
PHANTOMJS = {"browserName": "phantomjs"}


class BiDiScript:
    def __init__(self, driver):
        self.driver = driver

    def add_preload_script(self, function_declaration):
        self.driver.preloads.append(("bidi", function_declaration))


class MovedDriver(FakeDriver):
    """A fake driver with Chrome's CDP, Firefox's BiDi or neither (``caps``), whose pages may carry
    ``billing``: what the preload script kept of the page's own call (None: nothing yet)."""

    def __init__(self, first, caps, **kwargs):
        super().__init__(first, **kwargs)
        self.capabilities = dict(caps)
        self.preloads: list = []

    def execute_cdp_cmd(self, cmd, params):
        if "chrom" not in self.capabilities["browserName"]:
            raise RuntimeError("CDP support for Firefox has been removed")
        assert cmd == "Page.addScriptToEvaluateOnNewDocument"
        self.preloads.append(("cdp", params["source"]))
        return {"identifier": "1"}

    @property
    def script(self):
        return BiDiScript(self)

    def execute_script(self, script, *args):
        if script == BILLING_JS:
            assert args == (BILLING_SLOT,)
            page = self.shown[0]
            if len(self.shown) > 1:
                self.shown.pop(0)
            return page.get("billing")
        return super().execute_script(script, *args)


def account_page(billing=None):
    return state(ACCOUNT, "My Account | Xfinity", "Your account", billing=billing)


def seen(status=200, body=CONTEXT):
    return {"url": URLS["BILLING_CONTEXT_URL"], "status": status, "body": body}


@pytest.fixture
def clock():
    return FakeClock(1000.0)


def reader(driver, clock, *, retries=3, urls=URLS):
    return UsageReader(driver, urls, Deadline(600, clock=clock), retries=retries, timeouts=TIMEOUTS, clock=clock,
                       sleep=clock.sleep)


def on_account(caps, *after_load):
    driver = MovedDriver(account_page(), caps)
    driver.on("get", ACCOUNT, *after_load)
    return driver


# -- the sign-in ends on the new account site ----------------------------------------------------------


def test_account_page_is_a_logged_in_page():
    page = {"url": ACCOUNT + "?tab=usage", "title": "My Account", "ready": "complete", "text": "Your account",
            "html": 5000}
    assert classify(page, HOME, ACCOUNT) is PageKind.HOME
    assert classify(page, HOME) is PageKind.OTHER  # without the account URL: an unknown page
    assert classify(dict(page, url="https://www.example.com/accounting"), HOME, ACCOUNT) is PageKind.OTHER


def test_moved_in_chrome_reads_the_pages_own_call(clock):
    driver = on_account(CHROME, [account_page(), account_page(seen())])  # the answer comes on the 2nd look
    r = reader(driver, clock)
    reading = r.read()
    assert (reading.used, reading.total, reading.units) == (424.0, 1229.0, "GB")
    assert len(reading.months) == 12 and reading.raw["usageMonths"][-1]["homeUsage"] == 424.0
    assert r.source == "BILLING_CONTEXT_URL" and r.moved
    ((how, source),) = driver.preloads
    assert how == "cdp" and '"/digital/service/api/BillingInfo/context"' in source and BILLING_SLOT in source
    assert driver.xhrs == []  # the customer site's dead endpoints were not asked
    assert driver.count("get", ACCOUNT) == 1 and clock.sleeps == [TIMEOUTS.poll]


def test_moved_in_firefox_uses_bidi(clock):
    driver = on_account(FIREFOX, account_page(seen()))
    assert reader(driver, clock).read().used == 424.0
    ((how, source),) = driver.preloads
    assert how == "bidi" and source.startswith("() => {") and "BillingInfo/context" in source


class LostConnection:
    """Selenium's BiDi connection (and script module) whose socket is found lost at first use."""

    closed = False

    def add_preload_script(self, function_declaration):
        from websocket import WebSocketConnectionClosedException

        raise WebSocketConnectionClosedException("Connection to remote host was lost.")

    def close(self):
        self.closed = True


class LostBiDiDriver(MovedDriver):
    """Firefox whose first BiDi connection is lost; Selenium makes a new one once it is dropped."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._websocket_connection = self._script = LostConnection()

    @property
    def script(self):
        return self._script or BiDiScript(self)


def test_lost_bidi_connection_is_opened_again_once(clock):
    driver = LostBiDiDriver(account_page(), FIREFOX)
    driver.on("get", ACCOUNT, account_page(seen()))
    lost = driver._websocket_connection
    assert reader(driver, clock).read().used == 424.0
    assert lost.closed and driver._websocket_connection is None
    ((how, _),) = driver.preloads
    assert how == "bidi"


def test_moved_in_phantomjs_is_a_clear_error(clock):
    driver = on_account(PHANTOMJS, account_page(seen()))
    with pytest.raises(BrowserError) as info:
        reader(driver, clock).read()
    message = str(info.value)
    assert message.startswith("phantomjs cannot read accounts moved") and "www.xfinity.com/account" in message
    assert all(name in message for name in MOVED_BROWSERS) and MOVED_BROWSERS == (
        "chrome-headless", "chrome", "firefox-headless", "firefox")
    assert driver.count("get") == 0


def test_every_customer_api_answering_401_means_moved(clock):
    driver = MovedDriver(home_page(), CHROME, cookies={"XSRF-TOKEN": quote("x+y=", safe="")})
    driver.answer(CSP, (401, UNAUTHORIZED)).answer(LEGACY, (401, UNAUTHORIZED)).answer(SC, (401, UNAUTHORIZED))
    driver.on("get", ACCOUNT, account_page(seen()))
    r = reader(driver, clock)
    assert r.read().used == 424.0 and r.moved and r.source == "BILLING_CONTEXT_URL"
    assert [url for url, _ in driver.xhrs] == [CSP, SC, LEGACY]  # each once: a refusal is not retried


def test_a_401_on_one_endpoint_only_is_not_a_move(clock):
    driver = MovedDriver(home_page(), CHROME)
    driver.answer(CSP, (401, UNAUTHORIZED)).answer(SC, (404, "{}")).answer(LEGACY, (200, BODY))
    r = reader(driver, clock)
    assert r.read().used == 424.0 and r.source == "LEGACY_USAGE_JSON_URL" and not r.moved
    assert driver.preloads == []


def test_a_site_without_account_urls_scrapes_instead(clock):
    urls = {**URLS, "ACCOUNT_URL": "", "BILLING_CONTEXT_URL": "", "SC_USAGE_JSON_URL": ""}
    driver = MovedDriver(home_page(), CHROME)
    driver.answer(CSP, (401, UNAUTHORIZED)).answer(LEGACY, (401, UNAUTHORIZED))
    driver.on("get", URLS["USAGE_PAGE_URL"], home_page(URLS["USAGE_PAGE_URL"], scrape={
        "meter": "805GB remaining of 1229GB monthly plan", "rows": [["424GB", "Nov"]]}))
    r = reader(driver, clock, urls=urls)
    assert r.read().used == 424.0 and r.source == "USAGE_PAGE_URL" and not r.moved
    assert [url for url, _ in driver.xhrs] == [CSP, LEGACY]  # no api.sc endpoint on this site


@pytest.mark.parametrize("status", [401, 403, 400])
def test_a_refused_call_is_not_retried(clock, status):
    driver = on_account(CHROME, account_page(seen(status, UNAUTHORIZED)))
    with pytest.raises(SiteChangedError, match=f"HTTP {status}"):
        reader(driver, clock).read()
    assert driver.count("get", ACCOUNT) == 1


def test_a_failing_call_is_retried(clock):
    driver = on_account(CHROME, account_page(seen(503, "")), error_page(ACCOUNT), account_page(seen()))
    assert reader(driver, clock).read().used == 424.0
    assert driver.count("get", ACCOUNT) == 3 and len([s for s in clock.sleeps if s != TIMEOUTS.poll]) == 2


def test_a_call_failing_for_good(clock):
    driver = on_account(CHROME, account_page(seen(503, "")))
    with pytest.raises(SiteUnavailableError, match="try again later"):
        reader(driver, clock, retries=1).read()
    assert driver.count("get", ACCOUNT) == 2


def test_no_call_seen_is_site_changed_after_one_step(clock):
    driver = on_account(CHROME, account_page())
    start = clock()
    with pytest.raises(SiteChangedError, match="made no /digital/service/api/BillingInfo/context call"):
        reader(driver, clock).read()
    assert clock() - start == pytest.approx(TIMEOUTS.step) and driver.count("get", ACCOUNT) == 1


def test_sent_back_to_the_sign_in_is_said_so(clock):
    from .fakedriver import username_page

    driver = on_account(CHROME, username_page())
    with pytest.raises(SiteChangedError, match="back to the sign-in"):
        reader(driver, clock).read()
    assert driver.count("get", ACCOUNT) == 1


def test_access_denied_on_the_account_page(clock):
    driver = on_account(CHROME, access_denied_page(ACCOUNT))
    with pytest.raises(AccessDeniedError):
        reader(driver, clock).read()


def test_an_answer_without_usage_is_doubtful_data(clock):
    driver = on_account(CHROME, account_page(seen(200, json.dumps({"responseData": {"data": {}}}))))
    with pytest.raises(DataError, match="subscriptionContext"):
        reader(driver, clock).read()


def test_billing_context_parsing():
    raw = data.billing_context(TODAY, "moved")
    reading = usage.reading_from_billing_context(raw, now=1.0e9)
    assert reading.raw is raw["responseData"]["data"]["subscriptionContext"]["customerPlanInfo"]["internet"][0]
    empty = json.loads(json.dumps(raw))
    empty["responseData"]["data"]["subscriptionContext"]["customerPlanInfo"]["internet"] = []
    with pytest.raises(DataError, match="internet"):
        usage.billing_context_usage(empty)
    for bad in (None, [], {"responseData": None}):
        with pytest.raises(DataError):
            usage.billing_context_usage(bad)


# -- the api.sc endpoint ---------------------------------------------------------------------------------


def test_api_sc_between_csp_and_legacy(clock):
    driver = MovedDriver(home_page(), CHROME, cookies={"XSRF-TOKEN": quote("x+y=", safe="")})
    driver.answer(CSP, (404, "<html></html>")).answer(SC, (200, BODY))
    r = reader(driver, clock)
    assert r.read().used == 424.0 and r.source == "SC_USAGE_JSON_URL"
    assert [url for url, _ in driver.xhrs] == [CSP, SC]
    assert "x-xsrf-token" not in driver.xhrs[1][1]  # the customer site's XSRF token stays home


def test_client_urls_without_the_new_keys_have_none():
    client = XfinityUsage("me@example.com", "pw-1", urls={k: v for k, v in OLD_URLS.items()})
    assert client.urls["SC_USAGE_JSON_URL"] == client.urls["ACCOUNT_URL"] == client.urls["BILLING_CONTEXT_URL"] == ""
    real = XfinityUsage("me@example.com", "pw-1").urls
    assert real["SC_USAGE_JSON_URL"] == pages.SC_USAGE_JSON_URL and real["ACCOUNT_URL"] == pages.ACCOUNT_URL
    assert real["SC_USAGE_JSON_URL"].startswith("https://api.sc.xfinity.com/session/csp/selfhelp/")


# -- 3.0.4's scrape ---------------------------------------------------------------------------------------


def test_scrape_reads_the_first_cell_of_the_last_row():
    rows = [["Total Monthly Usage", "Month"], ["1102GB", "Oct 2026"], ["424GB", "Nov 2026"]]
    reading = usage.reading_from_page("805GB remaining of 1229GB monthly plan", rows, now=1.0e9)
    assert (reading.used, reading.total, reading.units) == (424.0, 1229.0, "GB")
    assert usage.reading_from_page("805 GB remaining of 1229 GB monthly plan", [["Nov", "424 GB"]]).used == 424.0
    with pytest.raises(DataError, match="disagree"):
        usage.reading_from_page("805GB remaining of 1229GB monthly plan", [["500GB", "Nov"]])
    with pytest.raises(DataError, match="cannot parse usage table row"):
        usage.reading_from_page("805GB remaining of 1229GB monthly plan", [["Nov 2026", "soon"]])


def test_the_text_fallback_patterns():
    meter = re.compile(pages.METER_TEXT_JS_RE, re.I)
    assert meter.search("This month: 805GB remaining of 1,229 GB monthly plan.").group(0) == (
        "805GB remaining of 1,229 GB monthly plan")
    assert meter.search("424GB used, unlimited data plan")
    assert not meter.search("Loading your usage")
    cell = re.compile(pages.AMOUNT_CELL_JS_RE, re.I)
    assert cell.search(" 424GB ") and cell.search("1.5 TB") and not cell.search("Nov 2026")
    assert pages.SEL_METER == '[ng-bind-html="usage.details.userMessage.monthlyUsageState"]'
    assert pages.SEL_USAGE_TABLE == 'div[usage-data="usage.details.usageData"]'


# -- the saved session and the moved marker ---------------------------------------------------------------


def test_moved_marker_is_private_and_forgotten(tmp_path):
    cookie_file = str(tmp_path / "state" / "cookies.json")
    remember_moved(cookie_file, True)
    path = moved_marker(cookie_file)
    assert path == cookie_file + ".moved" and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    remember_moved(cookie_file, True)  # again: unchanged
    remember_moved(cookie_file, False)
    assert not os.path.exists(path)
    remember_moved(cookie_file, False)  # nothing to forget: fine


def test_session_source_steps_aside_for_a_moved_account(tmp_path, monkeypatch):
    from xfinity_usage.sources import session

    cookie_file = str(tmp_path / "cookies.json")
    session.save_cookies(cookie_file, [{"name": "s_sess", "value": "1", "domain": "customer.example.com"}],
                         "https://customer.example.com")
    asked = []
    monkeypatch.setattr(session, "fetch_usage", lambda *a, **k: asked.append(a) or pytest.fail("asked the site"))
    remember_moved(cookie_file, True)
    assert SessionSource(cookie_file, URLS).read(Deadline(10)) is None and asked == []
