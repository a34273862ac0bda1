"""Reading the usage in a logged-in browser: the JSON endpoints, else the usage page.

:class:`UsageReader` asks the current endpoint (with the XSRF header), then
the legacy one, each from inside the page so the session's cookies go
along; when neither answers with usable JSON it scrapes the usage page.
What it returns is whatever :mod:`xfinity_usage.usage` makes of the answer.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Mapping
from urllib.parse import unquote

from . import usage
from .errors import AccessDeniedError, DataError, SiteChangedError, SiteUnavailableError, XfinityUsageError
from .login import access_denied
from .pages import SEL_METER, SEL_USAGE_ERROR, SEL_USAGE_ROWS, Page, PageKind, Timeouts
from .retry import Backoff, Deadline

logger = logging.getLogger(__name__)

XSRF_COOKIE = "XSRF-TOKEN"
XSRF_HEADER = "x-xsrf-token"
#: The URL keys tried in order, and the one that names the scraped page.
JSON_SOURCES = ("USAGE_JSON_URL", "LEGACY_USAGE_JSON_URL")
PAGE_SOURCE = "USAGE_PAGE_URL"

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
#: The arguments of :data:`SCRAPE_JS`, in order.
SCRAPE_ARGS = (SEL_METER, SEL_USAGE_ROWS, SEL_USAGE_ERROR)

_NO_ANSWER = {"status": 0, "type": "", "body": ""}


class UsageReader:
    """Reads the usage in a browser that is logged in.

    Transient failures of an endpoint (no answer, 5xx, a truncated body)
    are retried up to ``retries`` times with backoff; other failures move
    on to the next way. :attr:`source` names the URL key that answered.
    """

    def __init__(self, driver: Any, urls: Mapping[str, str], deadline: Deadline, *, retries: int = 3,
                 timeouts: Timeouts | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, backoff: Callable[[], Backoff] | None = None):
        self.driver = driver
        self.urls = dict(urls)
        self.deadline = deadline
        self.retries = retries
        self.page = Page(driver, self.urls["HOME_URL"], deadline, timeouts=timeouts, clock=clock, sleep=sleep)
        self._new_backoff = backoff or (lambda: Backoff(sleep=sleep))
        #: The URL key the reading came from: USAGE_JSON_URL, LEGACY_USAGE_JSON_URL or USAGE_PAGE_URL.
        self.source: str | None = None

    def read(self) -> Any:
        """The reading from the JSON endpoints, else from the usage page."""
        failures: list[XfinityUsageError] = []
        token = self.xsrf_token()
        for key in JSON_SOURCES:
            headers = {XSRF_HEADER: token} if key == "USAGE_JSON_URL" and token else {}
            reading, failure = self._from_endpoint(key, headers)
            if failure is None:
                self.source = key
                return reading
            failures.append(failure)
        logger.info("both usage endpoints failed; reading the usage page")
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
            logger.info("request to %s failed: %s", url, exc.__class__.__name__)
            return dict(_NO_ANSWER)
        return result or dict(_NO_ANSWER)

    def fetch_json(self, url: str, headers: Mapping[str, str]) -> Any:
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

    def _from_endpoint(self, key: str, headers: Mapping[str, str]) -> tuple[Any, XfinityUsageError | None]:
        """``(reading, None)``, or ``(None, the last failure)`` once retrying no longer helps."""
        url = self.urls[key]
        backoff = self._new_backoff()
        attempt = 0
        while True:
            attempt += 1
            self.deadline.check("reading the usage")
            try:
                return self.fetch_json(url, {"Accept": "application/json", **headers}), None
            except XfinityUsageError as exc:
                logger.info("usage from %s failed (attempt %d): %s", key, attempt, exc)
                if not exc.transient or attempt > self.retries:
                    return None, exc
            backoff.wait(self.deadline)

    # -- the usage page ----------------------------------------------------------

    def scrape(self) -> Any:
        """Read the meter and the usage table from the usage page.

        The page, its failure to load its own data (its error message), a
        blank or an error page are retried; a page without the meter is not.
        """
        backoff = self._new_backoff()
        attempt = 0
        while True:
            attempt += 1
            self.deadline.check("reading the usage page")
            self._open_usage_page()
            found, kind = self._wait_for_meter()
            if found is not None:
                return usage.reading_from_page(found["meter"], found["rows"])
            if kind is PageKind.ACCESS_DENIED:
                raise access_denied()
            if kind not in (PageKind.ERROR, PageKind.BLANK):
                raise SiteChangedError(f"the usage page has no {SEL_METER} and {SEL_USAGE_ROWS}")
            if attempt > self.retries:
                raise SiteUnavailableError("the usage page kept failing to load; try again later")
            logger.info("usage page: %s, retrying (%d of %d)", kind, attempt, self.retries)
            backoff.wait(self.deadline)

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
