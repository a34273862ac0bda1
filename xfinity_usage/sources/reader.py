"""Reading the usage in a logged-in browser: the JSON endpoints, the new account site, else the usage page.

:class:`UsageReader` asks the current endpoint (with the XSRF header), the
2024 page's ``api.sc`` endpoint, then the legacy one, each from inside the
page so the session's cookies go along; when none answers with usable JSON
it scrapes the usage page. An account moved to the new account site (the
sign-in ended on ``ACCOUNT_URL``, or the customer site's APIs answer 401)
is read by observing the account page's own ``BillingInfo/context`` call:
a script installed before the page loads keeps that call's answer (Chrome:
CDP; Firefox: WebDriver BiDi). What it returns is whatever
:mod:`xfinity_usage.sources.usage` makes of the answer.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Mapping
from urllib.parse import unquote, urlsplit

from . import pages, usage
from ..errors import (
    AccessDeniedError,
    BrowserError,
    DataError,
    SiteChangedError,
    SiteUnavailableError,
    XfinityUsageError,
)
from .login import access_denied
from .pages import (
    AMOUNT_CELL_JS_RE,
    METER_TEXT_JS_RE,
    SEL_METER,
    SEL_USAGE_ERROR,
    SEL_USAGE_TABLE,
    Page,
    PageKind,
    Timeouts,
    check_browser,
    on_account_site,
    origin,
)
from ..retry import Backoff, Deadline, retrying

logger = logging.getLogger(__name__)

XSRF_COOKIE = "XSRF-TOKEN"
XSRF_HEADER = "x-xsrf-token"
#: The URL keys tried in order (a key missing or empty in the URLs given is skipped), and the one that
#: names the scraped page.
JSON_SOURCES = ("USAGE_JSON_URL", "SC_USAGE_JSON_URL", "LEGACY_USAGE_JSON_URL")
PAGE_SOURCE = "USAGE_PAGE_URL"
#: The new account site's page and the call it makes; the source named for a moved account's reading.
ACCOUNT_PAGE = "ACCOUNT_URL"
MOVED_SOURCE = "BILLING_CONTEXT_URL"
#: Defaults of the moved-account URLs, when the URLs given lack them.
MOVED_DEFAULTS = {ACCOUNT_PAGE: pages.ACCOUNT_URL, MOVED_SOURCE: pages.BILLING_CONTEXT_URL}
#: The browsers that can read a moved account (they can run a script before a page's own).
MOVED_BROWSERS = ("chrome-headless", "chrome", "firefox-headless", "firefox")

#: GET a URL with the page's own cookies (ES5 XMLHttpRequest; PhantomJS has no fetch). The
#: cookies go along to another host of the site too (``withCredentials``; the host must allow it).
XHR_JS = """
var url = arguments[0], headers = arguments[1], done = arguments[arguments.length - 1];
var x = new XMLHttpRequest();
x.open('GET', url, true);
x.withCredentials = true;
for (var k in headers) { if (headers.hasOwnProperty(k)) { x.setRequestHeader(k, headers[k]); } }
x.onreadystatechange = function () {
  if (x.readyState === 4) {
    done({status: x.status, type: String(x.getResponseHeader('Content-Type') || ''),
          body: String(x.responseText || '')});
  }
};
x.send();
"""

#: The usage page's meter sentence and usage table, once rendered: 3.0.4's selectors first,
#: then the sentence and a table whose last row holds an amount, found by their text (ES5).
SCRAPE_JS = """
var meterSel = arguments[0], tableSel = arguments[1], errorSel = arguments[2];
var meterRe = new RegExp(arguments[3], 'i'), cellRe = new RegExp(arguments[4], 'i');
function clean(s) { return String(s || '').replace(/\\s+/g, ' ').replace(/^ | $/g, ''); }
function rowsOf(box) {
  var trs = box.getElementsByTagName('tr'), out = [], i, j, cells, row;
  for (i = 0; i < trs.length; i++) {
    cells = trs[i].querySelectorAll('td,th');
    row = [];
    for (j = 0; j < cells.length; j++) { row.push(clean(cells[j].textContent)); }
    if (row.length) { out.push(row); }
  }
  return out;
}
function lastHasAmount(rows) {
  if (!rows.length) { return false; }
  var last = rows[rows.length - 1];
  for (var i = 0; i < last.length; i++) { if (cellRe.test(last[i])) { return true; } }
  return false;
}
var e = document.querySelector(errorSel);
if (e && (e.offsetWidth || e.offsetHeight) && e.textContent) { return {error: clean(e.textContent)}; }
var m = document.querySelector(meterSel), box = document.querySelector(tableSel), how = 'selectors';
var meter = m ? clean(m.textContent) : '', rows = box ? rowsOf(box) : [], found, tables, i, r;
if (!meterRe.test(meter)) {
  found = document.body ? clean(document.body.innerText || document.body.textContent).match(meterRe) : null;
  meter = found ? found[0] : '';
  how = 'text';
}
if (!lastHasAmount(rows)) {
  rows = [];
  tables = document.getElementsByTagName('table');
  for (i = 0; i < tables.length; i++) {
    r = rowsOf(tables[i]);
    if (lastHasAmount(r)) { rows = r; how = 'text'; break; }
  }
}
if (!meter || !rows.length) { return null; }
return {meter: meter, rows: rows, how: how};
"""
#: The arguments of :data:`SCRAPE_JS`, in order.
SCRAPE_ARGS = (SEL_METER, SEL_USAGE_TABLE, SEL_USAGE_ERROR, METER_TEXT_JS_RE, AMOUNT_CELL_JS_RE)

#: Where the preload script keeps the account page's own ``BillingInfo/context`` answer.
BILLING_SLOT = "__xfinityUsageBillingContext"
#: Installed before every page's own scripts: wraps ``fetch`` and ``XMLHttpRequest`` and keeps
#: the answer ``{url, status, body}`` of the call whose URL holds ``PATH`` in ``window[SLOT]``.
#: The calls themselves are left untouched.
PRELOAD_JS = """
(function (path, slot) {
  if (window[slot + 'Hooked']) { return; }
  window[slot + 'Hooked'] = true;
  function wanted(url) { return String(url || '').indexOf(path) >= 0; }
  function keep(url, status, body) { window[slot] = {url: String(url), status: status, body: String(body)}; }
  var realFetch = window.fetch;
  if (realFetch) {
    window.fetch = function (input, init) {
      var url = (input && typeof input === 'object' && 'url' in input) ? input.url : input;
      var answer = realFetch.apply(this, arguments);
      if (wanted(url)) {
        answer.then(function (r) {
          r.clone().text().then(function (t) { keep(r.url || url, r.status, t); }, function () {});
        }, function () {});
      }
      return answer;
    };
  }
  var proto = window.XMLHttpRequest && window.XMLHttpRequest.prototype;
  if (proto) {
    var realOpen = proto.open, realSend = proto.send;
    proto.open = function (method, url) { this[slot + 'Url'] = url; return realOpen.apply(this, arguments); };
    proto.send = function () {
      var x = this;
      if (wanted(x[slot + 'Url'])) {
        x.addEventListener('load', function () {
          var t = (x.responseType === '' || x.responseType === 'text') ? x.responseText : JSON.stringify(x.response);
          keep(x.responseURL || x[slot + 'Url'], x.status, t);
        });
      }
      return realSend.apply(this, arguments);
    };
  }
}(%s, %s));
"""
#: What the preload script kept, if anything yet.
BILLING_JS = "return window[arguments[0]] || null;"


def preload_source(path: str) -> str:
    """:data:`PRELOAD_JS` for the call whose URL holds ``path``."""
    return PRELOAD_JS % (json.dumps(path), json.dumps(BILLING_SLOT))


def add_preload_script(driver: Any, source: str) -> str:
    """Run ``source`` in every document this browser loads from now on, before the page's own scripts.

    Chrome: CDP ``Page.addScriptToEvaluateOnNewDocument``; Firefox: WebDriver BiDi
    ``script.addPreloadScript`` (the session must have been started with ``webSocketUrl``).
    Returns how (``"cdp"`` or ``"bidi"``); raises :class:`BrowserError` for a browser that can
    do neither (PhantomJS).
    """
    caps = getattr(driver, "capabilities", None) or {}
    try:
        if caps.get("webSocketUrl"):
            _bidi_preload(driver, "() => {" + source + "}")  # stays for the session
            return "bidi"
        if "chrom" in str(caps.get("browserName") or "").lower() and hasattr(driver, "execute_cdp_cmd"):
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})
            return "cdp"
    except Exception as exc:  # noqa: BLE001 - a browser that refuses: say so below
        logger.info("installing the preload script failed: %s: %s", exc.__class__.__name__, exc)
        raise BrowserError(f"{caps.get('browserName') or 'this browser'} could not install the script that reads "
                           f"a moved account's usage ({exc.__class__.__name__}); use one of "
                           f"{', '.join(MOVED_BROWSERS)}") from None
    raise BrowserError(
        f"{caps.get('browserName') or 'this browser'} cannot read accounts moved to Xfinity's new account site "
        f"({pages.ACCOUNT_URL}): it cannot observe the page's own requests. Use one of "
        f"{', '.join(MOVED_BROWSERS)} (-b)")


def _bidi_preload(driver: Any, function: str) -> None:
    """``script.addPreloadScript`` over WebDriver BiDi, on a second connection if the first is lost.

    Selenium opens the BiDi WebSocket on first use. Firefox once dropped that
    connection during its handshake on a loaded machine (Selenium then waits 30 s
    and raises ``WebSocketConnectionClosedException``): a new connection is tried once.
    """
    try:
        driver.script.add_preload_script(function)
    except Exception as exc:  # noqa: BLE001 - only a lost connection is retried
        if type(exc).__name__ != "WebSocketConnectionClosedException":
            raise
        logger.info("the WebDriver BiDi connection was lost (%s); opening a new one", exc)
        connection = getattr(driver, "_websocket_connection", None)  # Selenium's, made again on next use
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - it is lost already
                pass
            driver._websocket_connection = None
            driver._script = None
        driver.script.add_preload_script(function)


_NO_ANSWER = {"status": 0, "type": "", "body": ""}
#: Page kinds that say the session is gone (the sign-in form).
_SIGNED_OUT = ("username", "password", "one_page", "bad_password", "mfa")


class UsageReader:
    """Reads the usage in a browser that is logged in.

    Transient failures of an endpoint (no answer, 5xx, a truncated body)
    are retried up to ``retries`` times with backoff; other failures move
    on to the next way. :attr:`source` names the URL key that answered;
    :attr:`moved` says whether the account was found on the new account site.
    """

    def __init__(self, driver: Any, urls: Mapping[str, str], deadline: Deadline, *, retries: int = 3,
                 timeouts: Timeouts | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, backoff: Callable[[], Backoff] | None = None):
        self.driver = driver
        self.urls = {**MOVED_DEFAULTS, **urls}
        self.deadline = deadline
        self.retries = retries
        self.page = Page(driver, self.urls["HOME_URL"], deadline, timeouts=timeouts, clock=clock, sleep=sleep,
                         account_url=self.urls[ACCOUNT_PAGE])
        self._new_backoff = backoff or (lambda: Backoff(sleep=sleep))
        #: The URL key the reading came from: USAGE_JSON_URL, SC_USAGE_JSON_URL, LEGACY_USAGE_JSON_URL,
        #: BILLING_CONTEXT_URL (a moved account) or USAGE_PAGE_URL.
        self.source: str | None = None
        #: True once the account was found moved to the new account site.
        self.moved = False

    def read(self) -> Any:
        """The reading: from the new account site for a moved account; else from the JSON
        endpoints, else from the usage page."""
        if on_account_site(self.page.current_url(), self.urls[ACCOUNT_PAGE]):
            logger.info("the sign-in ended on the new account site: the account has moved")
            return self.read_moved()
        failures: list[XfinityUsageError] = []
        token = self.xsrf_token()
        home = origin(self.urls["HOME_URL"])
        home_statuses = []
        for key in JSON_SOURCES:
            if not self.urls.get(key):
                continue
            headers = {XSRF_HEADER: token} if key == "USAGE_JSON_URL" and token else {}
            reading, failure = self._from_endpoint(key, headers)
            if failure is None:
                self.source = key
                return reading
            if origin(self.urls[key]) == home:
                home_statuses.append(getattr(failure, "status", None))
            failures.append(failure)
        if home_statuses and set(home_statuses) == {401} and self.urls[ACCOUNT_PAGE] and self.urls[MOVED_SOURCE]:
            logger.info("every customer-site API answered 401 right after the sign-in: the account has moved")
            return self.read_moved()
        logger.info("every usage endpoint failed; reading the usage page")
        try:
            reading = self.scrape()
        except AccessDeniedError:
            raise  # the bot protection, not a missing page: the client backs off
        except XfinityUsageError as exc:
            failures.append(exc)
            raise _summary(failures) from None
        self.source = PAGE_SOURCE
        return reading

    # -- the JSON endpoints ----------------------------------------------------

    def xsrf_token(self) -> str | None:
        """The ``XSRF-TOKEN`` cookie's value, URL-decoded (what the site wants in the header)."""
        try:
            cookie = self.driver.get_cookie(XSRF_COOKIE)
        except Exception:  # noqa: BLE001
            cookie = None
        return unquote(cookie["value"]) if cookie and cookie.get("value") else None

    def xhr(self, url: str, headers: Mapping[str, str]) -> dict:
        """GET ``url`` from the page; returns ``{status, type, body}`` (status 0: no answer)."""
        self.driver.set_script_timeout(max(1.0, self.deadline.cap(self.page.timeouts.step)))
        try:
            result = self.driver.execute_async_script(XHR_JS, url, dict(headers))
        except Exception as exc:  # noqa: BLE001 - script timeout or page gone
            check_browser(exc)
            logger.info("request to %s failed: %s", url, exc.__class__.__name__)
            return dict(_NO_ANSWER)
        return result or dict(_NO_ANSWER)

    def fetch_json(self, url: str, headers: Mapping[str, str]) -> Any:
        """One try at a JSON endpoint; raises a precise error, transient ones marked
        (a refusal carries the HTTP ``status``)."""
        answer = self.xhr(url, headers)
        status, body = answer.get("status", 0), answer.get("body", "")
        if usage.is_not_supported(status, body):
            return usage.unlimited_reading(json.loads(body))
        if status == 0 or status >= 500:
            raise SiteUnavailableError(f"{url} answered {status or 'nothing'}")
        if status in (401, 403):
            refused = SiteChangedError(f"{url} refused the session (HTTP {status})")
            refused.status = status  # type: ignore[attr-defined]
            raise refused
        if status == 404:
            raise SiteChangedError(f"the usage endpoint {url} is gone (HTTP 404)")
        if status != 200:
            raise SiteChangedError(f"{url} answered HTTP {status}")
        try:
            raw = json.loads(body)
        except ValueError:
            raise SiteUnavailableError(f"{url} sent a truncated or non-JSON body") from None
        return usage.reading_from_json(raw)

    def _from_endpoint(self, key: str, headers: Mapping[str, str]) -> tuple[Any, XfinityUsageError | None]:
        """``(reading, None)``, or ``(None, the last failure)`` once retrying no longer helps."""
        url = self.urls[key]

        self.deadline.check("reading the usage")  # out of time: the run ends here, not the endpoint
        try:
            return retrying(lambda: self.fetch_json(url, {"Accept": "application/json", **headers}), self.deadline,
                            f"usage from {key}", self.retries, self._new_backoff), None
        except XfinityUsageError as exc:
            logger.info("usage from %s failed: %s", key, exc)
            self.deadline.check("reading the usage")
            return None, exc

    # -- a moved account: the new account site -----------------------------------

    def read_moved(self) -> Any:
        """The usage of a moved account: the answer the account page's own ``BillingInfo/context``
        call receives, kept by a script installed before the page loads (the page holds the bearer
        token that call needs; how it gets it is not ours to know).

        The page, a call answering 5xx, an error or blank page are retried; a page that makes no
        such call, or a refused call, is not.
        """
        self.moved = True
        if not (self.urls[ACCOUNT_PAGE] and self.urls[MOVED_SOURCE]):
            raise SiteChangedError("the customer site's APIs refused the session (HTTP 401) as for an account "
                                   "moved to the new account site, but no ACCOUNT_URL/BILLING_CONTEXT_URL is set")
        call_path = urlsplit(self.urls[MOVED_SOURCE]).path
        how = add_preload_script(self.driver, preload_source(call_path))
        logger.info("observing the account page's own %s call (%s)", call_path, how)
        def once() -> Any:
            self.deadline.check("reading the usage on the new account site")
            self.page.load(self.urls[ACCOUNT_PAGE])
            seen, kind = self._wait_for_billing()
            if seen is not None:
                status, body = seen.get("status") or 0, seen.get("body") or ""
                if status == 200:
                    try:
                        raw = json.loads(body)
                    except ValueError:
                        raise DataError(f"the account page's {call_path} answer is not JSON") from None
                    reading = usage.reading_from_billing_context(raw)
                    self.source = MOVED_SOURCE
                    return reading
                if status in (401, 403):
                    raise SiteChangedError(f"the account page's own {call_path} call was refused (HTTP {status}); "
                                           "the site may have changed, please report it")
                if 0 < status < 500:
                    raise SiteChangedError(f"the account page's own {call_path} call answered HTTP {status}")
                raise _PageFailed(f"the account page's {call_path} call answered {status or 'nothing'}")
            if kind is PageKind.ACCESS_DENIED:
                raise access_denied()
            if kind in (PageKind.ERROR, PageKind.BLANK):
                raise _PageFailed(f"the new account site kept failing to load ({kind} page)")
            if kind.value in _SIGNED_OUT:
                raise SiteChangedError(f"the account page ({self.urls[ACCOUNT_PAGE]}) sent the signed-in browser "
                                       f"back to the sign-in ({kind} page); the site may have changed, please report it")
            raise SiteChangedError(
                f"the account page ({self.urls[ACCOUNT_PAGE]}) made no {call_path} call we could see "
                f"(page: {kind}); the site may have changed, please report it")

        try:
            return retrying(once, self.deadline, "account page", self.retries, self._new_backoff,
                            retry_on=lambda exc: isinstance(exc, _PageFailed),
                            out_of_time="reading the usage on the new account site")
        except _PageFailed as exc:
            raise SiteUnavailableError(f"{exc}; try again later") from None

    def _wait_for_billing(self) -> tuple[dict | None, PageKind]:
        """Poll until the page's call was answered, the page fails, or the step times out."""
        end = self.page.step_end()
        kind = PageKind.LOADING
        while self.page.clock() < end:
            try:
                seen = self.driver.execute_script(BILLING_JS, BILLING_SLOT)
            except Exception:  # noqa: BLE001 - page in flux
                seen = None
            if isinstance(seen, dict):
                return seen, PageKind.HOME
            kind = self.page.kind()
            if kind in (PageKind.ERROR, PageKind.BLANK, PageKind.ACCESS_DENIED) or kind.value in _SIGNED_OUT:
                break
            self.page.sleep(self.page.timeouts.poll)
        return None, kind

    # -- the usage page ----------------------------------------------------------

    def scrape(self) -> Any:
        """Read the meter sentence and the usage table from the usage page, once its own data rendered.

        3.0.4's selectors are tried first, then the sentence and the table by their text. The page, its failure to load its own data (its error message), a
        blank or an error page are retried; a page without the meter is not.
        """
        def once() -> Any:
            self.deadline.check("reading the usage page")
            self._open_usage_page()
            found, kind = self._wait_for_meter()
            if found is not None:
                logger.info("usage page read by %s", found.get("how") or "selectors")
                return usage.reading_from_page(found["meter"], found["rows"])
            if kind is PageKind.ACCESS_DENIED:
                raise access_denied()
            if kind not in (PageKind.ERROR, PageKind.BLANK):
                raise SiteChangedError(f"the usage page has no {SEL_METER} and {SEL_USAGE_TABLE}, nor a "
                                       "'remaining of ... monthly plan' sentence and a usage table")
            raise _PageFailed(f"the usage page: {kind}")

        try:
            return retrying(once, self.deadline, "usage page", self.retries, self._new_backoff,
                            retry_on=lambda exc: isinstance(exc, _PageFailed), out_of_time="reading the usage page")
        except _PageFailed:
            raise SiteUnavailableError("the usage page kept failing to load; try again later") from None

    def _open_usage_page(self) -> None:
        """Load the usage page; reload it when already there (a new hash alone reloads nothing)."""
        if self.page.current_url() == self.urls[PAGE_SOURCE]:
            self.page.refresh()
        else:
            self.page.load(self.urls[PAGE_SOURCE])

    def _wait_for_meter(self) -> tuple[dict | None, PageKind]:
        """Poll until the meter shows (``(found, HOME)``), the page fails, or the step times out."""
        end = self.page.step_end()
        kind = PageKind.LOADING
        while self.page.clock() < end:
            try:
                found = self.driver.execute_script(SCRAPE_JS, *SCRAPE_ARGS)
            except Exception:  # noqa: BLE001 - page in flux
                found = None
            if found and found.get("meter"):
                return found, PageKind.HOME
            kind = PageKind.ERROR if found and found.get("error") else self.page.kind()
            if kind in (PageKind.ERROR, PageKind.BLANK, PageKind.ACCESS_DENIED):
                break
            self.page.sleep(self.page.timeouts.poll)
        return None, kind


class _PageFailed(SiteUnavailableError):
    """A page that failed in a way trying it again may fix (an error or blank page, a 5xx call)."""


def _summary(failures: list[XfinityUsageError]) -> XfinityUsageError:
    """The one error for every way of reading having failed."""
    if all(f.transient for f in failures):
        return SiteUnavailableError("the Xfinity site kept failing while reading the usage; try again later")
    for failure in failures:
        if isinstance(failure, DataError) and not failure.transient:
            return failure
    return SiteChangedError(
        "no usage found: " + "; ".join(str(f) for f in failures)
        + "; the site may have changed, please report it")
