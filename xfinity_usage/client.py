"""``XfinityUsage``: the importable class of xfinity-usage 3.0.4, rebuilt."""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, Mapping, Optional, Sequence

from .sources import pages
from .errors import AccessDeniedError, ConfigError, SiteUnavailableError
from .files import write_private
from .locks import FileLock, file_lock
from .reading import Reading
from .retry import Backoff, Deadline
from .secrets import Secret
from .sources import BrowserSource, SessionSource, Source

logger = logging.getLogger(__name__)

URL_KEYS = ("HOME_URL", "LOGIN_URL", "USAGE_JSON_URL", "SC_USAGE_JSON_URL", "LEGACY_USAGE_JSON_URL",
            "USAGE_PAGE_URL", "ACCOUNT_URL", "BILLING_CONTEXT_URL")
#: URL keys added since 3.0.4: a site given by ``urls`` without them has no such endpoint or page
#: (so a test site never sends the browser to the real one).
NEWER_URL_KEYS = ("SC_USAGE_JSON_URL", "ACCOUNT_URL", "BILLING_CONTEXT_URL")
#: The app's URLs (see :mod:`xfinity_usage.sources.oauth`), overridable like the site's.
APP_URL_KEYS = ("APP_AUTHORIZE_URL", "APP_TOKEN_URL", "APP_GRAPHQL_URL")
#: Values of ``source``.
SOURCE_CHOICES = ("auto", "app", "browser")


class XfinityUsage:
    """Log in to Xfinity and read this month's internet data usage.

    :param username: the Xfinity ID.
    :param password: its password (kept out of ``repr()``, logs and files).
    :param debug: save a screenshot and the page's HTML (password masked) when a browser run fails.
    :param cookie_file: where the session cookies are kept between runs (0600);
        ``None`` for ``$XDG_CACHE_HOME/xfinity-usage/cookies.json``.
    :param browser_name: one of ``phantomjs``, ``firefox``, ``firefox-headless``,
        ``chrome``, ``chrome-headless``.
    :param urls: overrides of the URL class attributes, e.g. to point at the simulated site
        (one that names none of :data:`NEWER_URL_KEYS` has none of those).
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
    :param timeouts: the browser flow's waits (:class:`xfinity_usage.sources.site.Timeouts`), e.g. shorter in tests.
    :param backoff: makes the :class:`~xfinity_usage.retry.Backoff` waited between retries
        (default ``Backoff()``), e.g. a fast one in tests.
    :param sources: the :class:`~xfinity_usage.sources.Source` s to try, in order, instead of
        the saved session and the browser.
    :param source: ``auto`` (the app's API when ``token_file`` exists, else the saved session
        and then the browser), ``app`` or ``browser`` (the saved session, then the browser).
    :param token_file: the app sign-in's token file (default
        ``$XDG_CONFIG_HOME/xfinity-usage/app-token.json``; see :mod:`xfinity_usage.sources.app`).
    :param client_secret: the app's client secret, if not the one saved with the tokens.
    """

    HOME_URL = pages.HOME_URL
    LOGIN_URL = pages.LOGIN_URL
    USAGE_JSON_URL = pages.USAGE_JSON_URL
    SC_USAGE_JSON_URL = pages.SC_USAGE_JSON_URL
    LEGACY_USAGE_JSON_URL = pages.LEGACY_USAGE_JSON_URL
    USAGE_PAGE_URL = pages.USAGE_PAGE_URL
    #: Where moved accounts land, and the call whose answer is read there.
    ACCOUNT_URL = pages.ACCOUNT_URL
    BILLING_CONTEXT_URL = pages.BILLING_CONTEXT_URL

    def __init__(self, username: str = "", password: str = "", debug: bool = False,
                 cookie_file: Optional[str] = None, browser_name: str = "firefox-headless", *,
                 urls: Optional[Mapping[str, str]] = None, reuse_session: bool = True,
                 timeout: float = 180.0, retries: int = 3, debug_dir: Optional[str] = None,
                 driver_path: Optional[str] = None, browser_path: Optional[str] = None,
                 ca_certs: Optional[str] = None, cooldown: float = 3600.0, force: bool = False,
                 timeouts: Any = None, sources: Optional[Sequence[Source]] = None,
                 source: str = "auto", token_file: Optional[str] = None, client_secret: Optional[str] = None,
                 backoff: Optional[Callable[[], Backoff]] = None):
        if source not in SOURCE_CHOICES:
            raise ConfigError(f"unknown source {source!r}; choose one of {', '.join(SOURCE_CHOICES)}")
        if token_file is None:
            from .sources.tokens import default_token_file

            token_file = default_token_file()
        self.source = source
        self.token_file = token_file
        self._client_secret = Secret(client_secret or "")
        self.app_urls: dict = {}
        for key, value in (urls or {}).items():
            if key in APP_URL_KEYS:
                self.app_urls[key] = value
        if sources is not None or not self._app_route():  # the app's route needs no username or password
            if not username:
                raise ConfigError("no Xfinity username given; set XFINITY_USER")
            if not password:
                raise ConfigError("no Xfinity password given; set XFINITY_PASSWORD or XFINITY_PASSWORD_FILE")
        from .options import BROWSERS

        if browser_name not in BROWSERS:
            raise ConfigError(f"unknown browser {browser_name!r}; choose one of {', '.join(BROWSERS)}")
        self.username = username
        self._password = Secret(password)
        self.debug = debug
        if cookie_file is None:
            from .sources.session import default_cookie_file

            cookie_file = default_cookie_file()
        self.cookie_file = cookie_file
        self.browser_name = browser_name
        site_urls = [key for key in (urls or {}) if key in URL_KEYS]
        for key in NEWER_URL_KEYS if site_urls else ():
            setattr(self, key, "")
        for key, value in (urls or {}).items():
            if key not in URL_KEYS + APP_URL_KEYS:
                raise ConfigError(f"unknown URL {key!r}; expected one of {', '.join(URL_KEYS + APP_URL_KEYS)}")
            if key in URL_KEYS:
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
        self.timeouts = timeouts
        self.backoff = backoff
        self._sources = None if sources is None else list(sources)
        #: The name of the source that answered the last run (``"session"``, ``"browser"``, ...).
        self.served_by: Optional[str] = None
        #: Password submissions of the last run.
        self.password_submissions = 0

    def __repr__(self) -> str:
        return f"XfinityUsage(username={self.username!r}, browser_name={self.browser_name!r})"

    @property
    def urls(self) -> dict:
        """The site URLs in effect for this instance (one per :data:`URL_KEYS`)."""
        return {key: getattr(self, key) for key in URL_KEYS}

    def run(self) -> dict:
        """This month's usage as 3.0.4's dict (see :meth:`Reading.to_dict`)."""
        return self.read().to_dict()

    def sources(self) -> list[Source]:
        """The sources :meth:`read` tries, in order: the ones given, else the saved
        session (unless ``reuse_session`` is off) and then the browser."""
        if self._sources is not None:
            return list(self._sources)
        if self._app_route():
            from .sources.app import AppSource

            return [AppSource(self.token_file, urls=self.app_urls, client_secret=self._client_secret.reveal(),
                              retries=self.retries, ca_certs=self.ca_certs)]
        found: list[Source] = []
        if self.reuse_session:
            found.append(SessionSource(self.cookie_file, self.urls, retries=self.retries, ca_certs=self.ca_certs,
                                       backoff=self.backoff or Backoff))
        debug_dir = self.debug_dir or (os.path.join(os.getcwd(), "xfinity-usage-debug") if self.debug else None)
        found.append(BrowserSource(
            self.browser_name, self.urls, self.username, self._password, self.cookie_file,
            retries=self.retries, timeouts=self.timeouts, debug_dir=debug_dir, backoff=self.backoff,
            browser={"driver_path": self.driver_path, "binary_path": self.browser_path,
                     "page_load_timeout": min(60.0, self.timeout)}))
        return found

    def _app_route(self) -> bool:
        return self.reads_with_app(self.source, self.token_file)

    @staticmethod
    def reads_with_app(source: str, token_file: str) -> bool:
        """The one rule that picks the route: True when the app's API reads (``source="app"``, or
        ``auto`` with a saved app sign-in in ``token_file``), False for the saved session and the browser."""
        return source == "app" or (source == "auto" and os.path.exists(token_file))

    @property
    def lock_path(self) -> str:
        """The account's lock file: beside the token file on the app's route, else beside the cookie file."""
        return (self.token_file if self._app_route() else self.cookie_file) + ".lock"

    def account_lock(self) -> FileLock:
        """This process's one lock of the account (:func:`xfinity_usage.locks.file_lock`). It is
        re-entrant: the app route's token refresh takes it too, so a holder refreshes at once."""
        return file_lock(self.lock_path)

    def read(self) -> Reading:
        """This month's usage from the first source that answers.

        Raises :class:`~xfinity_usage.errors.XfinityUsageError` subclasses;
        :class:`~xfinity_usage.errors.SiteUnavailableError` when no source answered.
        """
        deadline = Deadline(self.timeout)
        if not self.force:
            self._check_cooldown()
        self.served_by = None
        self.password_submissions = 0
        for source in self.sources():
            try:
                reading = source.read(deadline)
            except AccessDeniedError:
                self._start_cooldown()
                raise
            finally:
                self.password_submissions += getattr(source, "password_submissions", 0)
            if reading is not None:
                self.served_by = source.name
                logger.info("usage read by the %s source", source.name)
                return reading
            logger.info("the %s source had no answer", source.name)
        raise SiteUnavailableError("no way of reading the usage answered")

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
