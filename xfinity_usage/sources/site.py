"""The Xfinity site flow on a WebDriver: log in, then read the usage.

This is the facade the client uses. The work is split in three parts:

* :mod:`xfinity_usage.sources.pages`: selectors, :class:`PageKind` and the pure
  :func:`classify`, and :class:`~xfinity_usage.sources.pages.Page` (load, look, wait);
* :mod:`xfinity_usage.sources.login`: :class:`~xfinity_usage.sources.login.Login`, the
  sign-in state machine;
* :mod:`xfinity_usage.sources.reader`: :class:`~xfinity_usage.sources.reader.UsageReader`,
  the JSON endpoints, the new account site (moved accounts) and the usage page.

Each takes the clock, the sleep, a backoff factory and :class:`Timeouts`,
so tests drive them with a fake driver and no real waiting. There are no
fixed sleeps, only waits on conditions.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from .login import Login
from .pages import PageKind, Timeouts, classify, mask_page, origin
from .reader import UsageReader
from ..retry import Backoff, Deadline
from ..secrets import Secret

__all__ = ["SiteFlow", "Timeouts", "PageKind", "classify", "mask_page", "origin"]


class SiteFlow:
    """Drives one browser session through the Xfinity site: :meth:`login`, then :meth:`read_usage`.

    ``urls`` maps the URL attributes of :class:`XfinityUsage` (``URL_KEYS``; an
    endpoint missing from it is skipped, the new account site's URLs default to
    the real site's).
    """

    def __init__(self, driver: Any, urls: Mapping[str, str], username: str, password: Secret,
                 deadline: Deadline, *, retries: int = 3, timeouts: Timeouts | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 backoff: Callable[[], Backoff] | None = None):
        self.urls = dict(urls)
        self.timeouts = timeouts or Timeouts()
        common: dict[str, Any] = dict(retries=retries, timeouts=self.timeouts, clock=clock, sleep=sleep,
                                      backoff=backoff)
        self.reader = UsageReader(driver, self.urls, deadline, **common)
        self.login_flow = Login(driver, self.urls["HOME_URL"], username, password, deadline,
                                account_url=self.reader.urls["ACCOUNT_URL"], **common)

    @property
    def password_submissions(self) -> int:
        """How many times the password was typed and submitted in this run."""
        return self.login_flow.password_submissions

    @property
    def source(self) -> str | None:
        """The URL key the reading came from (``USAGE_JSON_URL``, ``SC_USAGE_JSON_URL``,
        ``LEGACY_USAGE_JSON_URL``, ``BILLING_CONTEXT_URL`` for a moved account, ``USAGE_PAGE_URL``)."""
        return self.reader.source

    @property
    def moved(self) -> bool:
        """True when the account was found moved to the new account site (``ACCOUNT_URL``)."""
        return self.reader.moved

    def login(self) -> None:
        """Get from HOME_URL to a logged-in page on the customer site, or the new account site
        (see :class:`~xfinity_usage.sources.login.Login`)."""
        self.login_flow.run()

    def read_usage(self) -> Any:
        """The reading: the new account site's for a moved account; else the JSON endpoints', else the usage page's."""
        return self.reader.read()
