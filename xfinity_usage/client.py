"""``XfinityUsage``: the importable class of xfinity-usage 3.0.4, rebuilt."""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Mapping, Optional

from .errors import AccessDeniedError, ConfigError, XfinityUsageError
from .files import ensure_private_dir, write_private
from .retry import Deadline
from .secrets import Secret, mask

logger = logging.getLogger(__name__)

URL_KEYS = ("HOME_URL", "LOGIN_URL", "USAGE_JSON_URL", "LEGACY_USAGE_JSON_URL", "USAGE_PAGE_URL")


class XfinityUsage:
    """Log in to Xfinity and read this month's internet data usage.

    :param username: the Xfinity ID.
    :param password: its password (kept out of ``repr()``, logs and files).
    :param debug: save a screenshot and the page's HTML (password masked) when a browser run fails.
    :param cookie_file: where the session cookies are kept between runs (0600);
        ``None`` for ``$XDG_CACHE_HOME/xfinity-usage/cookies.json``.
    :param browser_name: one of ``phantomjs``, ``firefox``, ``firefox-headless``,
        ``chrome``, ``chrome-headless``.
    :param urls: overrides of the URL class attributes, e.g. to point at the simulated site.
    :param reuse_session: try the saved cookies without a browser first.
    :param timeout: seconds the whole run may take.
    :param retries: how often a failing step is retried.
    :param debug_dir: where debug artifacts go (default ``./xfinity-usage-debug`` when ``debug``).
    :param driver_path: the WebDriver executable, if not on PATH.
    :param browser_path: the browser executable, if not the default one.
    :param ca_certs: a CA bundle for the browser-free request (default: the system's).
    :param cooldown: after the site's bot protection answered Access Denied, refuse
        to try again for this many seconds (recorded beside the cookie file).
    :param force: try even during the cool-down.
    """

    HOME_URL = "https://customer.xfinity.com/"
    LOGIN_URL = "https://login.xfinity.com/login"
    USAGE_JSON_URL = "https://customer.xfinity.com/apis/csp/account/me/services/internet/usage?filter=internet"
    LEGACY_USAGE_JSON_URL = "https://customer.xfinity.com/apis/services/internet/usage"
    USAGE_PAGE_URL = "https://customer.xfinity.com/#/services/internet"

    def __init__(self, username: str, password: str, debug: bool = False,
                 cookie_file: Optional[str] = None, browser_name: str = "firefox-headless", *,
                 urls: Optional[Mapping[str, str]] = None, reuse_session: bool = True,
                 timeout: float = 180.0, retries: int = 3, debug_dir: Optional[str] = None,
                 driver_path: Optional[str] = None, browser_path: Optional[str] = None,
                 ca_certs: Optional[str] = None, cooldown: float = 3600.0, force: bool = False):
        if not username:
            raise ConfigError("no Xfinity username given; set XFINITY_USER")
        if not password:
            raise ConfigError("no Xfinity password given; set XFINITY_PASSWORD or XFINITY_PASSWORD_FILE")
        from .browsers import BROWSERS

        if browser_name not in BROWSERS:
            raise ConfigError(f"unknown browser {browser_name!r}; choose one of {', '.join(BROWSERS)}")
        self.username = username
        self._password = Secret(password)
        self.debug = debug
        if cookie_file is None:
            from .session import default_cookie_file

            cookie_file = default_cookie_file()
        self.cookie_file = cookie_file
        self.browser_name = browser_name
        for key, value in (urls or {}).items():
            if key not in URL_KEYS:
                raise ConfigError(f"unknown URL {key!r}; expected one of {', '.join(URL_KEYS)}")
            setattr(self, key, value)
        self.reuse_session = reuse_session
        self.timeout = timeout
        self.retries = retries
        self.debug_dir = debug_dir
        self.driver_path = driver_path
        self.browser_path = browser_path
        self.ca_certs = ca_certs
        self.cooldown = cooldown
        self.force = force
        #: Which path served the last run: ``"session"`` or ``"browser"``.
        self.served_by: Optional[str] = None
        #: Password submissions of the last run.
        self.password_submissions = 0

    def __repr__(self) -> str:
        return f"XfinityUsage(username={self.username!r}, browser_name={self.browser_name!r})"

    @property
    def urls(self) -> dict:
        """The five site URLs in effect for this instance."""
        return {key: getattr(self, key) for key in URL_KEYS}

    def run(self) -> dict:
        """Return this month's usage reading (see :mod:`xfinity_usage.usage`)."""
        deadline = Deadline(self.timeout)
        if not self.force:
            self._check_cooldown()
        if self.reuse_session:
            reading = self._run_session(deadline)
            if reading is not None:
                return reading
        try:
            return self._run_browser(deadline)
        except AccessDeniedError:
            self._start_cooldown()
            raise

    @property
    def _cooldown_file(self) -> str:
        return os.path.join(os.path.dirname(os.path.abspath(self.cookie_file)), "access-denied")

    def _start_cooldown(self) -> None:
        try:
            write_private(self._cooldown_file, str(int(time.time())).encode())
        except OSError as exc:
            logger.warning("could not record the Access Denied time: %s", exc.strerror)

    def _check_cooldown(self) -> None:
        """Refuse to run while the Access Denied cool-down lasts."""
        try:
            with open(self._cooldown_file) as handle:
                denied_at = float(handle.read().strip())
        except (OSError, ValueError):
            return
        next_try = denied_at + self.cooldown
        if time.time() < next_try:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(next_try))
            raise AccessDeniedError(
                f"Xfinity's bot protection blocked the last run; not trying again before {when} "
                "(use --force to try now)")

    def _run_session(self, deadline: Deadline) -> Optional[dict]:
        """The reading from the saved cookies, without a browser; None when a login is needed.

        A transient failure (5xx, reset, timeout) is retried before giving up
        on the session: each browser login counts against the bot protection.
        """
        from .retry import Backoff
        from .session import SessionExpired, fetch_usage, load_cookies
        from .site import origin

        cookies = load_cookies(self.cookie_file, origin(self.HOME_URL))
        if not cookies:
            return None
        backoff = Backoff()
        for attempt in range(1, self.retries + 2):
            try:
                reading = fetch_usage(self.urls, cookies, timeout=deadline.cap(10.0), ca_certs=self.ca_certs)
            except SessionExpired as exc:
                logger.info("saved session not usable (%s); logging in with the browser", exc)
                return None
            except XfinityUsageError as exc:
                if not exc.transient or attempt > self.retries:
                    logger.info("saved session request failed (%s); logging in with the browser", exc)
                    return None
                logger.info("saved session request failed (%s); retrying (%d of %d)", exc, attempt, self.retries)
                backoff.wait(deadline)
                continue
            self.served_by = "session"
            logger.info("usage read with the saved session (no browser)")
            return reading
        return None

    def _run_browser(self, deadline: Deadline) -> dict:
        from .browsers import open_browser
        from .session import save_cookies
        from .site import SiteFlow, origin

        self.served_by = "browser"
        logger.info("starting %s", self.browser_name)
        with open_browser(self.browser_name, driver_path=self.driver_path,
                          binary_path=self.browser_path,
                          page_load_timeout=min(60.0, self.timeout)) as driver:
            flow = SiteFlow(driver, self.urls, self.username, self._password, deadline,
                            retries=self.retries)
            try:
                flow.login()
                try:
                    save_cookies(self.cookie_file, driver.get_cookies(), origin(self.HOME_URL))
                except OSError as exc:
                    logger.warning("could not save cookies to %s: %s", self.cookie_file, exc.strerror)
                reading = flow.read_usage()
            except BaseException:
                if self.debug or self.debug_dir:
                    self._save_debug(driver)
                raise
            finally:
                self.password_submissions = flow.password_submissions
            logger.info("usage read with the browser from %s", flow.source)
            return reading

    def _save_debug(self, driver: Any) -> None:
        """Screenshot and HTML of the current page, secrets masked, mode 0600.

        The username is starred in the page itself first, so the screenshot
        does not show it either (the password field shows only dots).
        """
        from .site import mask_page

        directory = self.debug_dir or os.path.join(os.getcwd(), "xfinity-usage-debug")
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
