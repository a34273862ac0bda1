"""The Xfinity site flow on a WebDriver: log in, then read the usage.

Every selector and page text of the real site lives here. The flow polls
one small script (:data:`STATE_JS`) that describes the page, and acts on
what it sees; there are no fixed sleeps, only waits on conditions.
"""
from __future__ import annotations

import json
import logging
import re
import time
from typing import Any, Callable, Mapping, Optional
from urllib.parse import unquote, urlsplit

from . import usage
from .errors import (
    AccessDeniedError,
    AccountActionRequiredError,
    BadCredentialsError,
    DataError,
    SiteChangedError,
    SiteUnavailableError,
    XfinityUsageError,
)
from .retry import Backoff, Deadline
from .secrets import Secret

logger = logging.getLogger(__name__)

BAD_PASSWORD_TEXT = "The Xfinity ID or password you entered was incorrect"
SEL_FORM = 'form[name="signin"]'
SEL_USER = "#user"
SEL_PASSWD = "#passwd"
SEL_SUBMIT = "#sign_in"
SEL_REMEMBER = "#remember_me"
SEL_REMEMBER_LABEL = "#remember_me_checkbox"
SEL_HINT = "#passwd-hint"
SEL_MFA = "#verificationCode"
SEL_SKIP_SECURITY_CHECK = "a.cancel"
SEL_NEW_PASSWORD = "#newPassword"  # the forced password reset's form
SEL_METER = "#usage-meter-text"
SEL_USAGE_ROWS = "#usage-history tbody tr"
SEL_USAGE_ERROR = ".error"  # the usage page's own "could not load your usage" message
XSRF_COOKIE = "XSRF-TOKEN"
XSRF_HEADER = "x-xsrf-token"

#: Describes the page in one round trip (ES5: it runs in PhantomJS too).
STATE_JS = """
function el(s) {
  var e = document.querySelector(s);
  if (!e) { return null; }
  var r = e.getClientRects ? e.getClientRects().length : 1;
  return {shown: !!(e.offsetWidth || e.offsetHeight || r), disabled: !!e.disabled,
          text: (e.textContent || '').replace(/\\s+/g, ' ').replace(/^ | $/g, '')};
}
var b = document.body;
return {url: String(location.href), title: String(document.title || ''),
        ready: String(document.readyState),
        text: b ? (b.innerText || b.textContent || '').replace(/\\s+/g, ' ').substring(0, 300) : '',
        html: document.documentElement ? document.documentElement.innerHTML.length : 0,
        form: !!document.querySelector(arguments[0]), user: el(arguments[1]),
        passwd: el(arguments[2]), hint: el(arguments[3]), mfa: el(arguments[4]),
        cancel: el(arguments[5]), reset: el(arguments[6])};
"""

#: GET a URL with the page's own cookies (ES5 XMLHttpRequest; PhantomJS has no fetch).
XHR_JS = """
var url = arguments[0], headers = arguments[1], done = arguments[arguments.length - 1];
var x = new XMLHttpRequest();
x.open('GET', url, true);
for (var k in headers) { if (headers.hasOwnProperty(k)) { x.setRequestHeader(k, headers[k]); } }
x.onreadystatechange = function () {
  if (x.readyState === 4) {
    done({status: x.status, type: String(x.getResponseHeader('Content-Type') || ''),
          body: String(x.responseText || '')});
  }
};
x.send();
"""

#: The usage page's meter text and table cells, once rendered.
SCRAPE_JS = """
var m = document.querySelector(arguments[0]);
var rows = document.querySelectorAll(arguments[1]);
var e = document.querySelector(arguments[2]);
if (e && (e.offsetWidth || e.offsetHeight) && e.textContent) {
  return {error: e.textContent.replace(/\\s+/g, ' ')};
}
if (!m || !rows.length) { return null; }
var out = [];
for (var i = 0; i < rows.length; i++) {
  var cells = rows[i].querySelectorAll('td,th'), row = [];
  for (var j = 0; j < cells.length; j++) { row.push((cells[j].textContent || '').replace(/^\\s+|\\s+$/g, '')); }
  out.push(row);
}
return {meter: (m.textContent || '').replace(/\\s+/g, ' ').replace(/^ | $/g, ''), rows: out};
"""

#: Replace secrets in the page's text and form values with stars, before a screenshot (ES5).
MASK_JS = """
var secrets = arguments[0];
function mask(s) {
  for (var i = 0; i < secrets.length; i++) { if (secrets[i]) { s = s.split(secrets[i]).join('********'); } }
  return s;
}
var fields = document.querySelectorAll('input, textarea');
for (var i = 0; i < fields.length; i++) {
  var v = fields[i].value, m = v ? mask(v) : v;
  if (m !== v) { fields[i].value = m; fields[i].setAttribute('value', m); }
}
if (document.body) {
  var walk = document.createTreeWalker(document.body, 4, null, false), n;
  while ((n = walk.nextNode())) { n.nodeValue = mask(n.nodeValue); }
}
"""

_ERROR_TITLE = re.compile(
    r"\b(5\d\d|Service Unavailable|Internal Server Error|Bad Gateway|Gateway Time-?out|"
    r"Server Error|Problem loading page|This site can.t be reached|Unable to connect)\b", re.I)
#: Below this many characters of markup, a page with no text is a blank page.
BLANK_HTML_LENGTH = 200
_RESET_TITLE = re.compile(r"\b(reset|change) your password\b|\bcreate a new password\b|\bpassword (has )?expired\b",
                          re.I)
_ERROR_URL = re.compile(r"^(about:|chrome-error:|data:)", re.I)


def _access_denied() -> AccessDeniedError:
    return AccessDeniedError(
        "Xfinity's bot protection answered Access Denied; wait an hour before trying again")


def mask_page(driver: Any, secrets: list) -> None:
    """Put stars in place of ``secrets`` in the current page (text and form values), in the browser."""
    driver.execute_script(MASK_JS, [s for s in secrets if s])


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class SiteFlow:
    """Drives one logged-in browser session through the Xfinity site.

    ``urls`` maps the five URL attributes of :class:`XfinityUsage`.
    """

    def __init__(self, driver: Any, urls: Mapping[str, str], username: str, password: Secret,
                 deadline: Deadline, *, retries: int = 3, step_timeout: float = 30.0,
                 poll: float = 0.1, backoff: Optional[Callable[[], Backoff]] = None):
        self.driver = driver
        self.urls = dict(urls)
        self.username = username
        self._password = password
        self.deadline = deadline
        self.retries = retries
        self.step_timeout = step_timeout
        self.poll = poll
        self._new_backoff = backoff or Backoff
        #: How many times the password was typed and submitted in this run.
        self.password_submissions = 0
        self._unanswered = False  # the last password submission got no answer (error page)
        self.source: Optional[str] = None

    # -- looking at the page -------------------------------------------------

    def state(self) -> dict:
        """What the current page is, as a small dict (see :data:`STATE_JS`)."""
        try:
            return self.driver.execute_script(
                STATE_JS, SEL_FORM, SEL_USER, SEL_PASSWD, SEL_HINT, SEL_MFA, SEL_SKIP_SECURITY_CHECK,
                SEL_NEW_PASSWORD) or {}
        except Exception as exc:  # noqa: BLE001 - a page in flux; report it as such
            logger.debug("page state unavailable: %s", exc.__class__.__name__)
            return {}

    def classify(self, s: Mapping[str, Any]) -> str:
        """Name the page: access_denied, error, blank, loading, mfa, password_reset,
        security_check, bad_password, password, username, one_page, home or other."""
        if not s:
            return "loading"
        title, url, text = s.get("title", ""), s.get("url", ""), s.get("text", "")
        if "Access Denied" in title or text.startswith("Access Denied"):
            return "access_denied"
        if s.get("mfa"):
            return "mfa"
        if s.get("reset") or _RESET_TITLE.search(title):
            return "password_reset"
        if s.get("cancel") and "Security Check" in title:
            return "security_check"
        hint = s.get("hint") or {}
        if BAD_PASSWORD_TEXT in (hint.get("text") or "") or BAD_PASSWORD_TEXT in text:
            return "bad_password"
        user, passwd = s.get("user"), s.get("passwd")
        if passwd and passwd.get("shown"):
            if user and user.get("shown") and not user.get("disabled"):
                return "one_page"
            return "password"
        if user and user.get("shown") and not user.get("disabled"):
            return "username"
        if _ERROR_URL.match(url) or _ERROR_TITLE.search(title):
            return "error"
        if s.get("ready") != "complete":
            return "loading"
        if not text.strip() and s.get("html", 0) < BLANK_HTML_LENGTH:
            return "blank"  # an empty document; an app shell whose script has not run yet is longer
        if origin(url) == origin(self.urls["HOME_URL"]):
            return "home"
        return "other"

    def wait_for_page(self, what: str, settled: Callable[[str], bool], grace: float = 5.0) -> str:
        """Poll the page until ``settled(kind)`` or the step times out; return the kind.

        An unrecognised page (``other``) counts as settled only once it has
        stayed so for ``grace`` seconds: scripts may still be moving on.
        """
        end = time.monotonic() + self.deadline.cap(self.step_timeout)
        other_since = None
        while True:
            kind = self.classify(self.state())
            now = time.monotonic()
            if kind == "other":
                other_since = other_since or now
                if now - other_since < grace and now < end:
                    time.sleep(self.poll)
                    continue
            else:
                other_since = None
            if settled(kind) or now >= end:
                logger.debug("waiting for %s: %s", what, kind)
                return kind
            time.sleep(self.poll)

    # -- logging in ----------------------------------------------------------

    def _load(self, url: str) -> None:
        try:
            self.driver.get(url)
        except Exception as exc:  # noqa: BLE001 - timeouts and resets show up as the page's state
            logger.info("loading %s failed: %s", url, exc.__class__.__name__)

    def login(self) -> None:
        """Get from HOME_URL to a logged-in page on the customer site.

        A failing page (error, blank, reset, timeout) is reloaded, up to
        ``retries`` times in a row; any progress resets the count. The
        password is submitted again only when its previous submission got
        no answer about the credentials.
        """
        backoff = self._new_backoff()
        failures = 0
        last_kind = None
        self._load(self.urls["HOME_URL"])
        while True:
            self.deadline.check("logging in")
            kind = self.wait_for_page("the login page", lambda k: k != "loading")
            logger.debug("login: page is %s", kind)
            if kind != last_kind and kind not in ("error", "blank", "loading", "other"):
                failures, backoff = 0, self._new_backoff()
            last_kind = kind
            if kind == "access_denied":
                raise _access_denied()
            if kind == "mfa":
                raise AccountActionRequiredError(
                    "Xfinity asks for a verification code (MFA); sign in once in a browser "
                    "to confirm this device, then run again")
            if kind == "password_reset":
                raise AccountActionRequiredError(
                    "Xfinity demands a new password; sign in once in a browser, choose one, "
                    "then update XFINITY_PASSWORD and run again")
            if kind == "bad_password":
                raise BadCredentialsError(
                    "Xfinity rejected the Xfinity ID or password; check XFINITY_USER and XFINITY_PASSWORD")
            if kind == "home":
                logger.info("logged in")
                return
            try:
                if self._act(kind):
                    continue
            except SiteUnavailableError as exc:  # the page went away under the action
                logger.info("login: %s", exc)
                kind = "error"
            # error, blank, loading (timed out) or other: reload and try again
            self._unanswered = True
            failures += 1
            if failures > self.retries:
                if kind == "other":
                    raise SiteChangedError(
                        f"the login page has no {SEL_FORM} with {SEL_USER}; the site may have changed "
                        f"(page title {self.driver_title()!r}); please report it")
                raise SiteUnavailableError(
                    f"the Xfinity site kept failing while logging in ({kind} page); try again later")
            logger.info("login: %s page, retrying (%d of %d)", kind, failures, self.retries)
            backoff.wait(self.deadline)
            self._reload()

    def _act(self, kind: str) -> bool:
        """Do what a sign-in page of this kind wants; False if it is not one."""
        if kind == "security_check":
            logger.info("skipping the Security Check interstitial")
            self._click(SEL_SKIP_SECURITY_CHECK)
        elif kind == "username":
            self._fill(SEL_USER, self.username)
            self._remember_me()
            self._click(SEL_SUBMIT)
        elif kind in ("password", "one_page"):
            if self.password_submissions and not self._unanswered:
                raise BadCredentialsError(
                    "Xfinity asked for the password again after it was submitted; "
                    "check XFINITY_USER and XFINITY_PASSWORD")
            if kind == "one_page":
                self._fill(SEL_USER, self.username)
                self._remember_me()
            self._fill(SEL_PASSWD, self._password.reveal())
            self.password_submissions += 1
            self._unanswered = False
            self._click(SEL_SUBMIT)
        else:
            return False
        self._wait_leave(kind)
        return True

    def _reload(self) -> None:
        """Load the current page again, or HOME_URL when it is a browser error page."""
        url = self.driver_current_url()
        if not url.startswith(("http://", "https://")) or "/login" in urlsplit(url).path:
            url = self.urls["HOME_URL"]
        self._load(url)

    def driver_title(self) -> str:
        try:
            return self.driver.title
        except Exception:  # noqa: BLE001
            return ""

    def _find(self, selector: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def _on_element(self, selector: str, what: str, action: Callable[[Any], None]) -> None:
        """Run ``action`` on the element; a missing element means the site changed,
        any other failure (the page navigating away, an error page) is transient."""
        from selenium.common.exceptions import NoSuchElementException

        try:
            element = self._find(selector)
        except NoSuchElementException:
            raise SiteChangedError(f"the sign-in page has no {selector}; the site may have changed") from None
        except Exception as exc:  # noqa: BLE001
            raise SiteUnavailableError(f"cannot {what} {selector}: {exc.__class__.__name__}") from None
        try:
            action(element)
        except Exception as exc:  # noqa: BLE001 - e.g. geckodriver's "Reached error page" after a click
            raise SiteUnavailableError(f"cannot {what} {selector}: {exc.__class__.__name__}") from None

    def _fill(self, selector: str, value: str) -> None:
        def type_in(element: Any) -> None:
            element.clear()
            element.send_keys(value)

        self._on_element(selector, "type into", type_in)

    def _click(self, selector: str) -> None:
        self._on_element(selector, "click", lambda element: element.click())

    def _remember_me(self) -> None:
        """Tick "remember me" if the page has it; the checkbox may sit under its label."""
        try:
            box = self._find(SEL_REMEMBER)
        except Exception:  # noqa: BLE001 - optional on the page
            return
        try:
            if box.is_selected():
                return
            try:
                box.click()
            except Exception:  # noqa: BLE001 - covered checkbox: click what receives the click
                self._find(SEL_REMEMBER_LABEL).click()
        except Exception as exc:  # noqa: BLE001
            logger.info("could not tick remember me: %s", exc.__class__.__name__)

    def _wait_leave(self, kind: str) -> None:
        """After a submit, wait until the page is no longer the one we submitted."""
        before = self.driver_current_url()

        def left(k: str) -> bool:
            if k == "loading":
                return False
            return k != kind or self.driver_current_url() != before

        self.wait_for_page("the next login step", left)

    def driver_current_url(self) -> str:
        try:
            return self.driver.current_url
        except Exception:  # noqa: BLE001
            return ""

    # -- reading the usage ---------------------------------------------------

    def xhr(self, url: str, headers: Mapping[str, str]) -> dict:
        """GET ``url`` from the page; returns ``{status, type, body}`` (status 0: no answer)."""
        self.driver.set_script_timeout(max(1.0, self.deadline.cap(self.step_timeout)))
        try:
            result = self.driver.execute_async_script(XHR_JS, url, dict(headers))
        except Exception as exc:  # noqa: BLE001 - script timeout or page gone
            logger.info("request to %s failed: %s", url, exc.__class__.__name__)
            return {"status": 0, "type": "", "body": ""}
        return result or {"status": 0, "type": "", "body": ""}

    def xsrf_token(self) -> Optional[str]:
        try:
            cookie = self.driver.get_cookie(XSRF_COOKIE)
        except Exception:  # noqa: BLE001
            cookie = None
        return unquote(cookie["value"]) if cookie and cookie.get("value") else None

    def fetch_json(self, url: str, headers: Mapping[str, str]) -> dict:
        """One try at a JSON endpoint; raises a precise error, transient ones marked."""
        answer = self.xhr(url, headers)
        status, body = answer.get("status", 0), answer.get("body", "")
        if usage.is_not_supported(status, body):
            return usage.unlimited_reading(json.loads(body))
        if status == 0 or status >= 500:
            raise SiteUnavailableError(f"{url} answered {status or 'nothing'}")
        if status in (401, 403):
            raise SiteChangedError(f"{url} refused the session (HTTP {status})")
        if status == 404:
            raise SiteChangedError(f"the usage endpoint {url} is gone (HTTP 404)")
        if status != 200:
            raise SiteChangedError(f"{url} answered HTTP {status}")
        try:
            raw = json.loads(body)
        except ValueError:
            raise SiteUnavailableError(f"{url} sent a truncated or non-JSON body") from None
        return usage.reading_from_json(raw)

    def read_usage(self) -> dict:
        """The reading from the JSON endpoints, else from the usage page."""
        failures: list[XfinityUsageError] = []
        token = self.xsrf_token()
        endpoints = (
            ("USAGE_JSON_URL", {XSRF_HEADER: token} if token else {}),
            ("LEGACY_USAGE_JSON_URL", {}),
        )
        for key, headers in endpoints:
            url = self.urls[key]
            backoff = self._new_backoff()
            for attempt in range(1, self.retries + 2):
                self.deadline.check("reading the usage")
                try:
                    reading = self.fetch_json(url, {"Accept": "application/json", **headers})
                except XfinityUsageError as exc:
                    logger.info("usage from %s failed (attempt %d): %s", key, attempt, exc)
                    if exc.transient and attempt <= self.retries:
                        backoff.wait(self.deadline)
                        continue
                    failures.append(exc)
                    break
                self.source = key
                return reading
        logger.info("both usage endpoints failed; reading the usage page")
        try:
            reading = self.scrape()
        except XfinityUsageError as exc:
            failures.append(exc)
            if all(f.transient for f in failures):
                raise SiteUnavailableError(
                    "the Xfinity site kept failing while reading the usage; try again later") from None
            if any(isinstance(f, DataError) and not f.transient for f in failures):
                raise next(f for f in failures if isinstance(f, DataError) and not f.transient) from None
            raise SiteChangedError(
                "no usage found: " + "; ".join(str(f) for f in failures)
                + "; the site may have changed, please report it") from None
        self.source = "USAGE_PAGE_URL"
        return reading

    def _open_usage_page(self) -> None:
        """Load the usage page; reload it when already there (a new hash alone reloads nothing)."""
        if self.driver_current_url() == self.urls["USAGE_PAGE_URL"]:
            try:
                self.driver.refresh()
            except Exception as exc:  # noqa: BLE001 - shows up as the page's state
                logger.info("reloading the usage page failed: %s", exc.__class__.__name__)
        else:
            self._load(self.urls["USAGE_PAGE_URL"])

    def scrape(self) -> dict:
        """Read the meter and the usage table from the usage page.

        The page, its failure to load its own data (its error message), a
        blank or an error page are retried; a page without the meter is not.
        """
        backoff = self._new_backoff()
        for attempt in range(1, self.retries + 2):
            self.deadline.check("reading the usage page")
            self._open_usage_page()
            end = time.monotonic() + self.deadline.cap(self.step_timeout)
            found, kind = None, "loading"
            while time.monotonic() < end:
                try:
                    found = self.driver.execute_script(SCRAPE_JS, SEL_METER, SEL_USAGE_ROWS, SEL_USAGE_ERROR)
                except Exception:  # noqa: BLE001 - page in flux
                    found = None
                if found and found.get("meter"):
                    return usage.reading_from_page(found["meter"], found["rows"])
                kind = "error" if found and found.get("error") else self.classify(self.state())
                if kind in ("error", "blank", "access_denied"):
                    break
                time.sleep(self.poll)
            if kind == "access_denied":
                raise _access_denied()
            if kind not in ("error", "blank"):
                raise SiteChangedError(f"the usage page has no {SEL_METER} and {SEL_USAGE_ROWS}")
            if attempt > self.retries:
                raise SiteUnavailableError("the usage page kept failing to load; try again later")
            logger.info("usage page: %s, retrying (%d of %d)", kind, attempt, self.retries)
            backoff.wait(self.deadline)
        raise AssertionError("unreachable")
