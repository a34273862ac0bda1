"""Ways of reading the usage: each a :class:`Source` that returns a :class:`Reading`.

:class:`~xfinity_usage.client.XfinityUsage` tries its sources in order and
stops at the first that answers. A source returns None when it cannot
answer this time (no saved session, session expired) and the next one
should try; it raises an :class:`~xfinity_usage.errors.XfinityUsageError`
when the answer is a failure the caller must hear about (bad password,
Access Denied, the site changed).

The two sources here:

* :class:`SessionSource`: the saved cookies, over HTTPS, with no browser.
* :class:`BrowserSource`: a real browser signs in and reads the usage.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

from ..errors import XfinityUsageError
from ..files import ensure_private_dir, write_private
from ..reading import Reading
from ..retry import Backoff, Deadline, retrying
from ..secrets import Secret, mask

logger = logging.getLogger(__name__)
#: ``extra`` of the log records that mark a step; the CLI shows them as a progress line.
PROGRESS = {"progress": True}


@runtime_checkable
class Source(Protocol):
    """One way of reading the usage."""

    #: Short name, shown by ``-v`` and kept in :attr:`Reading.source`.
    name: str

    def read(self, deadline: Deadline) -> Reading | None:
        """The reading, or None when this source cannot answer and the next should try."""


#: Beside the cookie file (``<cookie file>.moved``): the account was last read on the new account site.
MOVED_SUFFIX = ".moved"


def moved_marker(cookie_file: str) -> str:
    """The file that says this cookie file's account has moved to the new account site."""
    return cookie_file + MOVED_SUFFIX


def remember_moved(cookie_file: str, moved: bool) -> None:
    """Record (0600) or forget that the account has moved; a failure is only logged."""
    path = moved_marker(cookie_file)
    try:
        if moved:
            if not os.path.exists(path):
                write_private(path, b"moved to the new account site; read with a browser\n")
                logger.info("remembered that the account has moved (%s)", path)
        elif os.path.exists(path):
            os.unlink(path)
            logger.info("the account is read on the customer site again; forgot %s", path)
    except OSError as exc:
        logger.warning("could not record whether the account has moved (%s): %s", path, exc.strerror)


class SessionSource:
    """The saved session cookies, sent over HTTPS without a browser (TLS verified).

    A transient failure (5xx, reset, timeout) is retried before giving up:
    each browser sign-in that follows counts against the bot protection.

    An account moved to the new account site cannot be read this way (its
    usage call needs the page's own bearer token): once a browser found it
    moved (:func:`moved_marker` exists), this source steps aside at once,
    without asking the customer site's dead endpoints.
    """

    name = "session"

    def __init__(self, cookie_file: str, urls: Mapping[str, str], *, retries: int = 3,
                 ca_certs: str | None = None, backoff: Callable[[], Backoff] = Backoff):
        self.cookie_file = cookie_file
        self.urls = dict(urls)
        self.retries = retries
        self.ca_certs = ca_certs
        self._new_backoff = backoff

    def read(self, deadline: Deadline) -> Reading | None:
        from .session import SessionExpired, fetch_usage, load_cookies
        from .site import origin

        if os.path.exists(moved_marker(self.cookie_file)):
            logger.info("the account has moved to the new account site; the saved session cannot read it, "
                        "using the browser")
            return None
        cookies = load_cookies(self.cookie_file, origin(self.urls["HOME_URL"]))
        if not cookies:
            return None
        logger.info("reading usage with the saved session", extra=PROGRESS)
        try:
            reading = retrying(
                lambda: fetch_usage(self.urls, cookies, timeout=deadline.cap(10.0), ca_certs=self.ca_certs),
                deadline, "saved session request", self.retries, self._new_backoff,
                retry_on=lambda exc: getattr(exc, "transient", False) and not isinstance(exc, SessionExpired))
        except SessionExpired as exc:
            logger.info("saved session not usable (%s); logging in with the browser", exc)
            return None
        except XfinityUsageError as exc:
            logger.info("saved session request failed (%s); logging in with the browser", exc)
            return None
        logger.info("usage read with the saved session (no browser)")
        return reading.with_source(self.name)


class BrowserSource:
    """A real browser signs in on the Xfinity site, saves the session cookies and reads the usage.

    ``browser`` holds the keyword arguments of
    :func:`~xfinity_usage.browsers.open_browser` besides the name;
    ``timeouts`` tunes the site flow's waits (:class:`xfinity_usage.sources.site.Timeouts`) and
    ``backoff`` makes its :class:`~xfinity_usage.retry.Backoff` between retries (tests pass a fast one).
    With ``debug_dir`` set, a failing page's screenshot and HTML (secrets
    masked, mode 0600) are saved there.
    """

    name = "browser"

    def __init__(self, browser_name: str, urls: Mapping[str, str], username: str, password: Secret,
                 cookie_file: str, *, retries: int = 3, browser: Mapping[str, Any] | None = None,
                 timeouts: Any = None, debug_dir: str | None = None,
                 backoff: Callable[[], Backoff] | None = None):
        self.browser_name = browser_name
        self.urls = dict(urls)
        self.username = username
        self._password = password
        self.cookie_file = cookie_file
        self.retries = retries
        self.browser = dict(browser or {})
        self.timeouts = timeouts
        self.debug_dir = debug_dir
        self.backoff = backoff
        #: Password submissions of the last read.
        self.password_submissions = 0

    def __repr__(self) -> str:
        return f"BrowserSource({self.browser_name!r}, username={self.username!r})"

    def read(self, deadline: Deadline) -> Reading:
        from ..browsers import open_browser
        from .session import save_cookies
        from .site import SiteFlow, origin

        logger.info("starting %s", self.browser_name, extra=PROGRESS)
        options = dict(self.browser)
        if self.browser_name.startswith("firefox"):
            # Firefox's WebDriver BiDi channel: a moved account is read by a script that runs
            # before the account page's own (Chrome does it over CDP, always there).
            options.setdefault("network_log", True)
        with open_browser(self.browser_name, **options) as driver:
            extra = {} if self.timeouts is None else {"timeouts": self.timeouts}
            flow = SiteFlow(driver, self.urls, self.username, self._password, deadline,
                            retries=self.retries, backoff=self.backoff, **extra)
            try:
                logger.info("signing in", extra=PROGRESS)
                flow.login()
                try:
                    save_cookies(self.cookie_file, driver.get_cookies(), origin(self.urls["HOME_URL"]))
                except OSError as exc:
                    logger.warning("could not save cookies to %s: %s", self.cookie_file, exc.strerror)
                logger.info("reading usage", extra=PROGRESS)
                reading = flow.read_usage()
                remember_moved(self.cookie_file, flow.moved)
            except BaseException as exc:
                if flow.moved:
                    remember_moved(self.cookie_file, True)
                if self.debug_dir and not isinstance(exc, KeyboardInterrupt):
                    self._save_debug(driver)
                raise
            finally:
                self.password_submissions = flow.password_submissions
            logger.info("usage read with the browser from %s", flow.source)
            return reading.with_source(self.name)

    def _save_debug(self, driver: Any) -> None:
        """Screenshot and HTML of the current page, secrets masked, mode 0600.

        The username is starred in the page itself first, so the screenshot
        does not show it either (the password field shows only dots).
        """
        from .site import mask_page

        directory = self.debug_dir or ""
        try:
            ensure_private_dir(directory)
            try:
                mask_page(driver, [self.username])
            except Exception as exc:  # noqa: BLE001 - the HTML is still masked below
                logger.info("could not mask the page before the screenshot: %s", exc.__class__.__name__)
            html = mask(driver.page_source or "", [self._password.reveal(), self.username])
            write_private(os.path.join(directory, "failure.html"), html.encode("utf-8"))
            write_private(os.path.join(directory, "failure.png"), driver.get_screenshot_as_png())
            logger.info("saved the failing page to %s", directory)
        except Exception as exc:  # noqa: BLE001 - debugging aid only
            logger.warning("could not save debug artifacts: %s", exc)


__all__ = ["BrowserSource", "SessionSource", "Source", "moved_marker", "remember_moved"]
