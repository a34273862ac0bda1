"""What a page of the Xfinity site is: its selectors, its state, its kind.

Every selector and page text of the real site lives here. :data:`STATE_JS`
describes the current page in one round trip, and :func:`classify` names it
(a :class:`PageKind`) without touching the browser. :class:`Page` is the
little the flow needs from a WebDriver: load, look, and wait on the page's
kind, with the clock and sleep injected.
"""
from __future__ import annotations

import enum
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from ..errors import BrowserError
from ..retry import Deadline

logger = logging.getLogger(__name__)

BAD_PASSWORD_TEXT = "The Xfinity ID or password you entered was incorrect"
SEL_FORM = 'form[name="signin"]'
SEL_USER = "#user"
SEL_PASSWD = "#passwd"
SEL_SUBMIT = "#sign_in"
SEL_REMEMBER = "#remember_me"
SEL_REMEMBER_LABEL = "#remember_me_checkbox"
#: True when the element of arguments[0] is what a click at its centre would hit (ES5);
#: null when it is missing or outside the viewport. Lets a covered checkbox be ticked
#: through its label without a doomed click (chromedriver retries that for a second).
ON_TOP_JS = """
var e = document.querySelector(arguments[0]);
if (!e || !e.getBoundingClientRect) { return null; }
var r = e.getBoundingClientRect();
var x = r.left + r.width / 2, y = r.top + r.height / 2;
if (!r.width || !r.height || x < 0 || y < 0 || x >= window.innerWidth || y >= window.innerHeight) { return null; }
var t = document.elementFromPoint(x, y);
return !!t && (t === e || e.contains(t));
"""
SEL_HINT = "#passwd-hint"
SEL_MFA = "#verificationCode"
SEL_SKIP_SECURITY_CHECK = "a.cancel"
SEL_NEW_PASSWORD = "#newPassword"  # the forced password reset's form
#: 3.0.4's selectors on the usage page: the meter sentence ("805GB remaining of 1229GB monthly
#: plan") and the box of the usage table, whose last row's first cell is this month's usage.
SEL_METER = '[ng-bind-html="usage.details.userMessage.monthlyUsageState"]'
SEL_USAGE_TABLE = 'div[usage-data="usage.details.usageData"]'
SEL_USAGE_ERROR = ".error"  # the usage page's own "could not load your usage" message
#: When the selectors find nothing: the meter sentence and the usage table, found by their text
#: anywhere in the rendered page (JavaScript regular expressions, ES5).
METER_TEXT_JS_RE = (r"[0-9][0-9,]*(?:\.[0-9]+)?\s*[KMGT]B\s+remaining\s+of\s+[0-9][0-9,]*(?:\.[0-9]+)?\s*"
                    r"[KMGT]B\s+monthly\s+plan|[0-9][0-9,]*(?:\.[0-9]+)?\s*[KMGT]B\s+used,?\s+unlimited")
AMOUNT_CELL_JS_RE = r"^\s*[0-9][0-9,]*(?:\.[0-9]+)?\s*[KMGT]B\s*$"

# -- the real site's URLs (the defaults of XfinityUsage's URL attributes) -----------------------

HOME_URL = "https://customer.xfinity.com/"
LOGIN_URL = "https://login.xfinity.com/login"
USAGE_JSON_URL = "https://customer.xfinity.com/apis/csp/account/me/services/internet/usage?filter=internet"
#: The call the usage page of 2024 made (zachowj/xfinity-data-usage, thor0215/hassio-xfinity-usage).
SC_USAGE_JSON_URL = "https://api.sc.xfinity.com/session/csp/selfhelp/account/me/services/internet/usage"
LEGACY_USAGE_JSON_URL = "https://customer.xfinity.com/apis/services/internet/usage"
USAGE_PAGE_URL = "https://customer.xfinity.com/#/services/internet"
#: Where moved accounts land after sign-in (from July 2026), and the call that page makes for the usage.
ACCOUNT_URL = "https://www.xfinity.com/account"
BILLING_CONTEXT_URL = "https://www.xfinity.com/digital/service/api/BillingInfo/context"

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
#: The arguments of :data:`STATE_JS`, in order.
STATE_ARGS = (SEL_FORM, SEL_USER, SEL_PASSWD, SEL_HINT, SEL_MFA, SEL_SKIP_SECURITY_CHECK, SEL_NEW_PASSWORD)

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


#: A port the browsers refuse to open (6000, 6665-6669, ...): Chromium's ``net::ERR_UNSAFE_PORT``,
#: Firefox's ``about:neterror?e=deniedPortAccess``.
UNSAFE_PORT = "the browser refuses to open this port (an unsafe port)"
#: What a browser says when it cannot reach a site (Chrome's ``net::ERR_*``, Firefox's error
#: page address), and how the tool names it.
NETWORK_ERRORS = (
    ("ERR_CONNECTION_REFUSED", "connection refused"), ("e=connectionFailure", "connection refused"),
    ("ERR_NAME_NOT_RESOLVED", "name not resolved"), ("e=dnsNotFound", "name not resolved"),
    ("ERR_CERT_", "certificate not trusted"), ("about:certerror", "certificate not trusted"),
    ("e=nssFailure", "certificate not trusted"), ("SEC_ERROR_", "certificate not trusted"),
    ("ERR_CONNECTION_RESET", "connection reset"), ("e=netReset", "connection reset"),
    ("ERR_CONNECTION_TIMED_OUT", "connection timed out"), ("e=netTimeout", "connection timed out"),
    ("ERR_UNSAFE_PORT", UNSAFE_PORT), ("e=deniedPortAccess", UNSAFE_PORT),
)
#: Failures no retry can mend.
NOT_RETRIED = ("certificate not trusted", UNSAFE_PORT)
#: Any other error page of a browser, named by its code: Firefox's ``about:neterror?e=CODE`` (or
#: ``about:certerror``, ``about:blocked``), Chromium's ``net::ERR_CODE``; and an error page whose
#: code cannot be seen (Chromium's ``chrome-error://`` address).
_OTHER_ERROR_PAGE = re.compile(r"about:(?:neterror|certerror|blocked)\?(?:[^ ]*&)?e=([A-Za-z0-9_]+)|"
                               r"\b(?:net::)?(ERR_[A-Z0-9_]+)\b|(chrome-error://)")


def network_error(text: str) -> str | None:
    """The name of the network failure a browser's message or error page shows, else None.

    A known one gets a plain name ("connection refused"); any other error
    page is named by its code ("browser error page ERR_ADDRESS_INVALID"), so
    it is an error at once rather than a page that never finishes loading.
    """
    for marker, name in NETWORK_ERRORS:
        if marker in text:
            return name
    found = _OTHER_ERROR_PAGE.search(text)
    if found:
        code = found.group(1) or found.group(2)
        return f"browser error page {code}" if code else "browser error page"
    return None


def probe(url: str, timeout: float = 2.0) -> str | None:
    """Name what stops a connection to ``url``'s host, as the browser would meet it, else None.

    For browsers whose failed load says nothing (PhantomJS shows ``about:blank``): a name
    lookup, a TCP connection and, for https, a verified TLS handshake.
    """
    import socket
    import ssl

    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = str(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0])
    except (socket.gaierror, UnicodeError):
        return "name not resolved"
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            if parts.scheme == "https":
                with ssl.create_default_context().wrap_socket(sock, server_hostname=host):
                    pass
    except ConnectionRefusedError:
        return "connection refused"
    except ssl.SSLCertVerificationError:
        return "certificate not trusted"
    except (socket.timeout, TimeoutError):
        return "connection timed out"
    except ConnectionResetError:
        return "connection reset"
    except OSError:
        return None
    return None


#: What a driver says once its browser is gone (crashed, killed or closed) in the middle of a run.
BROWSER_GONE = (
    "invalid session id", "session deleted", "chrome not reachable", "not connected to DevTools",
    "tab crashed", "no such window", "Failed to decode response from marionette",
    "Tried to run command without establishing a connection", "Browsing context has been discarded",
)


def check_browser(exc: BaseException) -> None:
    """Raise :class:`BrowserError` when ``exc`` says the browser (or its driver) is gone: no page
    state, retry or reload can help then. Any other failure returns, for the caller to judge."""
    from urllib3.exceptions import HTTPError as DriverConnectionError

    gone = isinstance(exc, (DriverConnectionError, ConnectionError)) or any(
        marker in str(exc) for marker in BROWSER_GONE)
    if gone:
        detail = " ".join(str(getattr(exc, "msg", None) or exc).split())[:120] or exc.__class__.__name__
        raise BrowserError(f"the browser crashed or quit during the run ({detail})") from None


class PageKind(str, enum.Enum):
    """What a page of the site is, as far as the flow cares."""

    ACCESS_DENIED = "access_denied"    #: the bot protection's 403 page
    ERROR = "error"                    #: a server error or the browser's own error page
    BLANK = "blank"                    #: an empty document
    LOADING = "loading"                #: not complete yet (or no state could be had)
    MFA = "mfa"                        #: asks for a verification code
    PASSWORD_RESET = "password_reset"  #: demands a new password
    SECURITY_CHECK = "security_check"  #: the "Security Check" interstitial, with "Ask me later"
    BAD_PASSWORD = "bad_password"      #: the sign-in form saying the credentials are wrong
    PASSWORD = "password"              #: the sign-in form's password step
    USERNAME = "username"              #: the sign-in form's username step
    ONE_PAGE = "one_page"              #: the one-page sign-in form (username and password)
    HOME = "home"                      #: any other page on the customer host: logged in
    OTHER = "other"                    #: none of these: maybe the site changed

    def __str__(self) -> str:
        return self.value

    @property
    def failing(self) -> bool:
        """True for the kinds a reload may cure."""
        return self in (PageKind.ERROR, PageKind.BLANK, PageKind.LOADING)


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _shown(element: Any) -> bool:
    return bool(element) and bool(element.get("shown"))


def on_account_site(url: str, account_url: str | None) -> bool:
    """True when ``url`` is the new account site's page (``account_url`` or below it)."""
    if not account_url or not url:
        return False
    base = account_url.split("?")[0].split("#")[0].rstrip("/")
    here = url.split("?")[0].split("#")[0].rstrip("/")
    return here == base or here.startswith(base + "/")


def classify(state: Mapping[str, Any], home_url: str, account_url: str | None = None) -> PageKind:
    """Name the page that ``state`` (what :data:`STATE_JS` returns) describes.

    Pure: the same state and home URL always give the same kind. The order
    matters: a sign-in form showing the bad-password hint is
    :attr:`PageKind.BAD_PASSWORD`, not :attr:`PageKind.PASSWORD`; a logged-in
    page is any complete, non-blank page on ``home_url``'s origin, or the
    new account site's page ``account_url`` (where moved accounts land).
    """
    if not state:
        return PageKind.LOADING
    title, url, text = state.get("title") or "", state.get("url") or "", state.get("text") or ""
    if "Access Denied" in title or text.startswith("Access Denied"):
        return PageKind.ACCESS_DENIED
    if state.get("mfa"):
        return PageKind.MFA
    if state.get("reset") or _RESET_TITLE.search(title):
        return PageKind.PASSWORD_RESET
    if state.get("cancel") and "Security Check" in title:
        return PageKind.SECURITY_CHECK
    hint = state.get("hint") or {}
    if BAD_PASSWORD_TEXT in (hint.get("text") or "") or BAD_PASSWORD_TEXT in text:
        return PageKind.BAD_PASSWORD
    user = state.get("user") or {}
    user_editable = _shown(user) and not user.get("disabled")
    if _shown(state.get("passwd")):
        return PageKind.ONE_PAGE if user_editable else PageKind.PASSWORD
    if user_editable:
        return PageKind.USERNAME
    if _ERROR_URL.match(url) or _ERROR_TITLE.search(title):
        return PageKind.ERROR
    if state.get("ready") != "complete":
        return PageKind.LOADING
    if not text.strip() and (state.get("html") or 0) < BLANK_HTML_LENGTH:
        return PageKind.BLANK  # an empty document; an app shell whose script has not run yet is longer
    if origin(url) == origin(home_url) or on_account_site(url, account_url):
        return PageKind.HOME
    return PageKind.OTHER


@dataclass(frozen=True)
class Timeouts:
    """The flow's tunable waits, in seconds.

    ``step``: longest wait for one page (or one request) to settle;
    ``other_page_grace``: how long an unrecognised page must stay so before
    it counts (scripts may still be moving on); ``poll``: the pause between
    two looks at the page.
    """

    step: float = 30.0
    other_page_grace: float = 5.0
    poll: float = 0.1


def mask_page(driver: Any, secrets: list) -> None:
    """Put stars in place of ``secrets`` in the current page (text and form values), in the browser."""
    driver.execute_script(MASK_JS, [s for s in secrets if s])


class Page:
    """The browser's current page, as the flow sees it.

    Every WebDriver failure while looking is reported as the page's state
    (a page in flux), never raised.
    """

    def __init__(self, driver: Any, home_url: str, deadline: Deadline, *, timeouts: Timeouts | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 account_url: str | None = None):
        self.driver = driver
        self.home_url = home_url
        #: The new account site's page: a logged-in page too (a moved account lands there).
        self.account_url = account_url
        self.deadline = deadline
        self.timeouts = timeouts or Timeouts()
        self.clock = clock
        self.sleep = sleep
        #: What stopped the last navigation from reaching the site ("connection refused", ...), if known.
        self.failure: str | None = None
        self._target: str | None = None  # the address a failed navigation went to, not yet probed

    def state(self) -> dict:
        """What the current page is, as a small dict (see :data:`STATE_JS`); ``{}`` if unknown."""
        try:
            return self.driver.execute_script(STATE_JS, *STATE_ARGS) or {}
        except Exception as exc:  # noqa: BLE001 - a page in flux; report it as such
            check_browser(exc)
            logger.debug("page state unavailable: %s", exc.__class__.__name__)
            return {}

    def kind(self) -> PageKind:
        """The current page's kind; :attr:`PageKind.ERROR` at once when the site could not be reached."""
        state = self.state()
        kind = classify(state, self.home_url, self.account_url)
        if kind in (PageKind.ERROR, PageKind.BLANK) and self.failure is None:
            self.failure = network_error(f"{state.get('url', '')} {state.get('text', '')}")
            if self.failure is None and self._target and str(state.get("url", "")).startswith("about:"):
                self.failure = probe(self._target)  # a browser that says nothing (PhantomJS)
            self._target = None
        if self.failure is not None and kind in (PageKind.LOADING, PageKind.BLANK):
            return PageKind.ERROR
        return kind

    def step_end(self) -> float:
        """When a step started now must end (the step timeout, capped by the deadline)."""
        return self.clock() + self.deadline.cap(self.timeouts.step)

    def wait_for(self, what: str, settled: Callable[[PageKind], bool]) -> PageKind:
        """Poll the page until ``settled(kind)`` or the step times out; return the kind.

        An unrecognised page (:attr:`PageKind.OTHER`) counts only once it
        has stayed so for ``timeouts.other_page_grace`` seconds.
        """
        end = self.step_end()
        other_since: float | None = None
        while True:
            kind = self.kind()
            now = self.clock()
            if now >= end:
                break
            if kind is PageKind.OTHER:
                other_since = now if other_since is None else other_since
                if now - other_since >= self.timeouts.other_page_grace and settled(kind):
                    break
            else:
                other_since = None
                if settled(kind):
                    break
            self.sleep(self.timeouts.poll)
        logger.debug("waiting for %s: %s", what, kind)
        return kind

    def load(self, url: str) -> None:
        """Navigate to ``url``; a failure shows up as the page's state, not as an exception."""
        self.failure, self._target = None, url
        try:
            self.driver.get(url)
        except Exception as exc:  # noqa: BLE001 - timeouts and resets show up as the page's state
            check_browser(exc)
            self.failure = network_error(str(exc))
            logger.info("loading %s failed: %s", url, self.failure or exc.__class__.__name__)

    def refresh(self) -> None:
        """Reload the current page; a failure shows up as the page's state."""
        self.failure, self._target = None, self.current_url() or None
        try:
            self.driver.refresh()
        except Exception as exc:  # noqa: BLE001 - shows up as the page's state
            check_browser(exc)
            self.failure = network_error(str(exc))
            logger.info("reloading the page failed: %s", self.failure or exc.__class__.__name__)

    def current_url(self) -> str:
        try:
            return self.driver.current_url or ""
        except Exception:  # noqa: BLE001
            return ""

    def title(self) -> str:
        try:
            return self.driver.title or ""
        except Exception:  # noqa: BLE001
            return ""
