"""Every transient fault on every step of a sign-in and its usage reading, against a fake browser.

Each transient fault kind of the simulated site (blank, error500, error503, reset, slow, truncated) on
each request a sign-in makes (``/``, ``/oauth/authorize``, ``/login``, ``/oauth/callback`` and the usage
JSON endpoint), answered twice as ``Fault(path, kind, count=2)`` does: 30 points. :class:`FakeSite`
follows the site's redirects in a fake driver and shows the flow (:class:`~xfinity_usage.sources.site.SiteFlow`:
the login machine, then the usage reader) what headless Chromium shows for each faulty answer; every
wait runs on a fake clock. The real-browser runs, one per fault kind with the steps rotated, live in
``tests/test_reliability.py``.
"""
from __future__ import annotations

import datetime
import json
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
from selenium.common.exceptions import TimeoutException, WebDriverException

from xfinity_usage.sources import pages, reader
from xfinity_usage.sources.pages import Timeouts
from xfinity_usage.retry import Deadline
from xfinity_usage.secrets import Secret
from xfinity_usage.simulator import data
from xfinity_usage.simulator.responses import REASONS
from xfinity_usage.sources.site import SiteFlow

from .fakedriver import (
    HOME,
    URLS,
    FakeClock,
    FakeDriver,
    blank_page,
    home_page,
    loading_page,
    password_page,
    state,
    username_page,
)

USER = "me@example.com"
PASSWORD = "pw-secret-123"
XSRF = "k2Jf+Y0a/bQ9xw=="
CUSTOMER = HOME.rstrip("/")
LOGIN_HOST = "https://login.example.com"
AUTHORIZE = LOGIN_HOST + "/oauth/authorize?client_id=my-account-web&state=%2F"
SIGN_IN = LOGIN_HOST + "/login?continue=" + quote(AUTHORIZE, safe="")
CSP = urlsplit(URLS["USAGE_JSON_URL"]).path
LEGACY = urlsplit(URLS["LEGACY_USAGE_JSON_URL"]).path
BODY = json.dumps(data.usage_json(datetime.date(2026, 11, 15)))  # a fixed day, not today

STEPS = ("/", "/oauth/authorize", "/login", "/oauth/callback", CSP)
TRANSIENT = ("blank", "error500", "error503", "reset", "slow", "truncated")
TIMEOUTS = Timeouts(step=30.0, other_page_grace=5.0, poll=0.5)
#: How long a slow answer takes, in fake seconds: a page shows as loading that long.
SLOW = 2.0


# -- what headless Chromium shows for each faulty answer (looked at once with the simulated site) ----------


def server_error_page(url: str, status: int) -> dict:
    """The simulated site's bare 500 or 503 page."""
    heading = f"{status} {REASONS[status]}"
    return state(url, heading, heading + " The server is temporarily unable to service your request. "
                 "Please try again later.", html=214)


def reset_page(url: str) -> dict:
    """Chromium's own page for a reset connection; the driver's ``current_url`` still names ``url``."""
    return dict(state("chrome-error://chromewebdata/", urlsplit(url).hostname,
                      "This site can’t be reached The connection was reset. Try: Checking the connection "
                      "Checking the proxy and the firewall ERR_CONNECTION_RESET Reload Details", html=254549),
                address=url)


def half_sign_in_page(url: str) -> dict:
    """The first half of a sign-in page: its head (title, style) and no form."""
    return state(url, "Sign in to Xfinity", "", html=1020)


def half_home_page(url: str) -> dict:
    """The first half of the customer site's page: its navigation, still a signed-in page."""
    return state(url, "Xfinity My Account", "Xfinity OverviewInternet", html=2146)


FAILURE_PAGES = {"blank": blank_page, "error500": lambda url: server_error_page(url, 500),
                 "error503": lambda url: server_error_page(url, 503)}
FAILURE_ANSWERS = {"blank": (200, "text/html; charset=utf-8", ""), "reset": (0, "", ""),
                   "error500": (500, "text/html; charset=utf-8", "<h1>500 Internal Server Error</h1>"),
                   "error503": (503, "text/html; charset=utf-8", "<h1>503 Service Unavailable</h1>")}


class FakeSite(FakeDriver):
    """A fake Chromium on the simulated site, whose first ``count`` requests to ``path`` get fault ``kind``.

    A navigation (``get``, or a click on the sign-in form's button) follows the site's redirects
    (``/`` -> ``/oauth/authorize`` -> ``/login``; the password -> ``/oauth/authorize`` ->
    ``/oauth/callback`` -> ``/``) request by request. A blank, error or reset answer ends it on that
    page (every reset is shown, though Chromium retries some by itself unseen; ``get`` raises on it
    as chromedriver does, a click does not); a slow one shows as loading for :data:`SLOW` seconds
    before the page (chromedriver mostly waits inside the call instead); a truncated one keeps the
    first half of a page (a redirect has no body to lose). The XHRs of the usage reading get the
    same faults (a slow one takes :data:`SLOW` seconds of the fake clock, or fails at the script timeout).
    """

    def __init__(self, clock: FakeClock, path: str, kind: str, count: int = 2):
        super().__init__(state("about:blank", "", "", html=26))
        self.clock = clock
        self.fault = [path, kind, count]
        #: Every fault injected, in order: (path, kind).
        self.injected: list[tuple[str, str]] = []
        #: How many requests carried a password (answered or not), as the simulated site counts them.
        self.password_submissions = 0
        self.signed_in = False  # the login host's session
        self.session = False  # the customer host's session
        self.codes: set[str] = set()
        self.user = ""
        self.script_timeout = 30.0

    @property
    def current_url(self) -> str:
        return self.page.get("address") or self.page["url"]

    def set_script_timeout(self, seconds: float) -> None:
        super().set_script_timeout(seconds)
        self.script_timeout = seconds

    def event(self, action: str, target: str) -> None:
        if action in ("get", "refresh"):
            shown, error = self._navigate("GET", target)
        elif action == "click" and target == pages.SEL_SUBMIT:
            shown, error = self._navigate("POST", LOGIN_HOST + "/login", self._form())
            error = None  # a click does not wait for where its navigation ends: the page shows it
        else:
            return  # "remember me" navigates nowhere
        self.shown = [dict(s) for s in shown]
        if error is not None:
            raise error

    def execute_async_script(self, script: str, url: str, headers: dict) -> dict:
        assert script == reader.XHR_JS
        self.xhrs.append((url, dict(headers)))
        kind = self._pick(urlsplit(url).path)
        if kind in FAILURE_ANSWERS:
            status, content_type, body = FAILURE_ANSWERS[kind]
            return {"status": status, "type": content_type, "body": body}
        if kind == "slow":
            if SLOW > self.script_timeout:
                self.clock.now += self.script_timeout
                raise TimeoutException("script timeout")
            self.clock.now += SLOW
        status, body = self._json(urlsplit(url).path, headers)
        if kind == "truncated":
            body = body[: len(body) // 2]
        return {"status": status, "type": "application/json", "body": body}

    # -- the site ---------------------------------------------------------------------------------

    def _pick(self, path: str) -> str | None:
        wanted, kind, left = self.fault
        if path != wanted or left == 0:
            return None
        self.fault[2] -= 1
        self.injected.append((path, kind))
        return kind

    def _form(self) -> dict:
        typed = {e[1]: e[2] for e in self.log if e[0] == "type"}  # the last value typed into each field
        if pages.SEL_PASSWD in self.page["elements"]:
            return {"user": self.user, "passwd": typed.get(pages.SEL_PASSWD, "")}
        return {"user": typed.get(pages.SEL_USER, "")}

    def _navigate(self, method: str, url: str, form: dict | None = None) -> tuple[list, Exception | None]:
        """Follow one navigation to its end: the states it shows, and what ``get`` raises, if anything."""
        loading: list = []
        while True:
            path = urlsplit(url).path
            if method == "POST" and "passwd" in (form or {}):
                self.password_submissions += 1
            kind = self._pick(path)
            if kind in FAILURE_PAGES:
                return [FAILURE_PAGES[kind](url)], None
            if kind == "reset":
                return [reset_page(url)], WebDriverException("unknown error: net::ERR_CONNECTION_RESET")
            if kind == "slow":
                loading = [loading_page(url)] * int(SLOW / TIMEOUTS.poll)
            answer = self._route(method, url, form or {})
            if isinstance(answer, str):  # a redirect
                method, url, form = "GET", answer, None
                continue
            full, half = answer
            return loading + [half if kind == "truncated" else full], None

    def _route(self, method: str, url: str, form: dict) -> str | tuple[dict, dict]:
        """The site's answer: the address it redirects to, or a page and its first half."""
        parts = urlsplit(url)
        if parts.path == "/oauth/authorize":
            if not self.signed_in:
                return SIGN_IN
            code = f"code{len(self.codes)}"
            self.codes.add(code)
            return f"{CUSTOMER}/oauth/callback?code={code}"
        if parts.path == "/login" and method == "GET":
            return dict(username_page(), url=url), half_sign_in_page(url)
        if parts.path == "/login":
            if "passwd" not in form:
                self.user = form["user"]
                return dict(password_page(), url=url), half_sign_in_page(url)
            assert (self.user, form["passwd"]) == (USER, PASSWORD)
            self.signed_in = True
            return AUTHORIZE
        if parts.path == "/oauth/callback":
            code = parse_qs(parts.query).get("code", [""])[0]
            if code not in self.codes:
                return AUTHORIZE
            self.codes.discard(code)
            self.session = True
            self.cookies[reader.XSRF_COOKIE] = quote(XSRF, safe="")
            return HOME
        if not self.session:
            return AUTHORIZE
        return home_page(url), half_home_page(url)

    def _json(self, path: str, headers: dict) -> tuple[int, str]:
        if path not in (CSP, LEGACY):
            return 404, '{"code": "NOT_FOUND"}'
        if not self.session:
            return 401, '{"code": "UNAUTHORIZED"}'
        if path == CSP and headers.get(reader.XSRF_HEADER) != unquote(self.cookies[reader.XSRF_COOKIE]):
            return 403, '{"code": "FORBIDDEN"}'
        return 200, BODY


def tries_lost(path: str, kind: str) -> int:
    """How many answers of the faulty step the flow must ask for again: both faulty ones, unless they
    still serve (a slow answer comes, late; a truncated redirect has no body to lose, and half of
    the signed-in page is still a signed-in page)."""
    if kind == "slow" or (kind == "truncated" and path not in ("/login", CSP)):
        return 0
    return 2


@pytest.mark.parametrize("kind", TRANSIENT)
@pytest.mark.parametrize("path", STEPS)
def test_transient_fault_on_each_step_is_survived(path, kind):
    """The right figure from the current endpoint, one password, a new try per faulty answer shown,
    and no step waited out (a truncated sign-in page is waited on for its grace, a slow one while it loads)."""
    clock = FakeClock(1000.0)
    site = FakeSite(clock, path, kind)
    flow = SiteFlow(site, URLS, USER, Secret(PASSWORD), Deadline(600.0, clock=clock), retries=3,
                    timeouts=TIMEOUTS, clock=clock, sleep=clock.sleep)
    flow.login()
    reading = flow.read_usage()
    assert {k: getattr(reading, k) for k in ("units", "used", "total")} == data.expected_reading("normal")
    assert flow.source == "USAGE_JSON_URL"
    assert (path, kind) in site.injected
    assert flow.password_submissions == site.password_submissions == 1
    reloads, asked_again = site.count("get") - 1, sum(1 for url, _ in site.xhrs if url == URLS["USAGE_JSON_URL"]) - 1
    assert (reloads, asked_again) == ((0, tries_lost(path, kind)) if path == CSP else (tries_lost(path, kind), 0))
    assert clock.now - 1000.0 < TIMEOUTS.step
