"""Signing in to the Xfinity site: a state machine over the page's kind.

:class:`Login` loads HOME_URL and acts on each page it lands on (fill the
username, the password, skip the Security Check) until the customer site
shows a logged-in page, or a page that ends the run (Access Denied, MFA,
a demanded password reset, wrong credentials).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable
from urllib.parse import urlsplit

from ..errors import (
    AccessDeniedError,
    AccountActionRequiredError,
    BadCredentialsError,
    SiteChangedError,
    SiteUnavailableError,
)
from .pages import (
    NOT_RETRIED,
    ON_TOP_JS,
    SEL_FORM,
    SEL_PASSWD,
    SEL_REMEMBER,
    SEL_REMEMBER_LABEL,
    SEL_SKIP_SECURITY_CHECK,
    SEL_SUBMIT,
    SEL_USER,
    Page,
    PageKind,
    check_browser,
    Timeouts,
)
from ..retry import Backoff, Deadline
from ..secrets import Secret

logger = logging.getLogger(__name__)

#: The kinds that say nothing about progress: a reload may cure them.
_NO_PROGRESS = (PageKind.ERROR, PageKind.BLANK, PageKind.LOADING, PageKind.OTHER)


def access_denied() -> AccessDeniedError:
    """The error for Akamai's Access Denied page."""
    return AccessDeniedError(
        "Xfinity's bot protection answered Access Denied; wait an hour before trying again")


def _final_error(kind: PageKind) -> Exception | None:
    """The error a page of this kind ends the login with, or None."""
    if kind is PageKind.ACCESS_DENIED:
        return access_denied()
    if kind is PageKind.MFA:
        return AccountActionRequiredError(
            "Xfinity asks for a verification code (MFA); sign in once in a browser "
            "to confirm this device, then run again")
    if kind is PageKind.PASSWORD_RESET:
        return AccountActionRequiredError(
            "Xfinity demands a new password; sign in once in a browser, choose one, "
            "then update XFINITY_PASSWORD and run again")
    if kind is PageKind.BAD_PASSWORD:
        return BadCredentialsError(
            "Xfinity rejected the Xfinity ID or password")
    return None


class Login:
    """Gets one browser from HOME_URL to a logged-in page of the customer site
    (or, for a moved account, the new account site's ``account_url``).

    A failing page (error, blank, loading past the step timeout, an
    unrecognised page, an action that failed under a navigation) is
    reloaded, up to ``retries`` times in a row, with backoff; any progress
    resets the count. The password is submitted again only when its previous
    submission got no answer about the credentials.
    """

    def __init__(self, driver: Any, home_url: str, username: str, password: Secret, deadline: Deadline, *,
                 retries: int = 3, timeouts: Timeouts | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 backoff: Callable[[], Backoff] | None = None, account_url: str | None = None):
        self.driver = driver
        self.home_url = home_url
        self.username = username
        self._password = password
        self.deadline = deadline
        self.retries = retries
        self.page = Page(driver, home_url, deadline, timeouts=timeouts, clock=clock, sleep=sleep,
                         account_url=account_url)
        self._new_backoff = backoff or (lambda: Backoff(sleep=sleep))
        #: How many times the password was typed and submitted.
        self.password_submissions = 0
        self._unanswered = False  # the last password submission got no answer (an error page)

    def run(self) -> None:
        """Log in, or raise the error that says why not."""
        backoff = self._new_backoff()
        failures = 0
        last_kind: PageKind | None = None
        self.page.load(self.home_url)
        while True:
            self.deadline.check("logging in")
            kind = self.page.wait_for("the login page", lambda k: k is not PageKind.LOADING)
            logger.debug("login: page is %s", kind)
            if kind is not last_kind and kind not in _NO_PROGRESS:
                failures, backoff = 0, self._new_backoff()
            last_kind = kind
            error = _final_error(kind)
            if error is not None:
                raise error
            if kind is PageKind.HOME:
                logger.info("logged in")
                return
            try:
                if self._act(kind):
                    continue
            except SiteUnavailableError as exc:  # the page went away under the action
                logger.info("login: %s", exc)
                kind = PageKind.ERROR
            # error, blank, loading (timed out) or other: reload and try again
            self._unanswered = True
            failures += 1
            if failures > self.retries or self.page.failure in NOT_RETRIED:
                raise self._gave_up(kind)
            logger.info("login: %s page, retrying (%d of %d)", kind, failures, self.retries)
            backoff.wait(self.deadline)
            self._reload()

    def _gave_up(self, kind: PageKind) -> Exception:
        if kind is PageKind.OTHER:
            return SiteChangedError(
                f"the login page has no {SEL_FORM} with {SEL_USER}; the site may have changed "
                f"(page title {self.page.title()!r}); please report it")
        if self.page.failure is not None:
            host = urlsplit(self.home_url).netloc
            return SiteUnavailableError(f"cannot reach the Xfinity site while logging in: {self.page.failure} "
                                        f"({host})")
        return SiteUnavailableError(
            f"the Xfinity site kept failing while logging in ({kind} page); try again later")

    def _act(self, kind: PageKind) -> bool:
        """Do what a sign-in page of this kind wants; False if it is not one."""
        if kind is PageKind.SECURITY_CHECK:
            logger.info("skipping the Security Check interstitial")
            self._click(SEL_SKIP_SECURITY_CHECK)
        elif kind is PageKind.USERNAME:
            self._fill(SEL_USER, self.username)
            self._remember_me()
            self._click(SEL_SUBMIT)
        elif kind in (PageKind.PASSWORD, PageKind.ONE_PAGE):
            if self.password_submissions and not self._unanswered:
                raise BadCredentialsError(
                    "Xfinity asked for the password again after it was submitted: "
                    "it rejected the Xfinity ID or password")
            if kind is PageKind.ONE_PAGE:
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
        """Load the current page again, or HOME_URL when it is a browser error page or the sign-in form."""
        url = self.page.current_url()
        if not url.startswith(("http://", "https://")) or "/login" in urlsplit(url).path:
            url = self.home_url
        self.page.load(url)

    def _wait_leave(self, kind: PageKind) -> None:
        """After a submit, wait until the page is no longer the one submitted."""
        before = self.page.current_url()

        def left(k: PageKind) -> bool:
            if k is PageKind.LOADING:
                return False
            return k is not kind or self.page.current_url() != before

        self.page.wait_for("the next login step", left)

    # -- elements --------------------------------------------------------------

    def _find(self, selector: str) -> Any:
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
            check_browser(exc)
            raise SiteUnavailableError(f"cannot {what} {selector}: {exc.__class__.__name__}") from None
        try:
            action(element)
        except Exception as exc:  # noqa: BLE001 - e.g. geckodriver's "Reached error page" after a click
            check_browser(exc)
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
                on_top = self.driver.execute_script(ON_TOP_JS, SEL_REMEMBER)
            except Exception:  # noqa: BLE001 - unknown: try the box itself
                on_top = None
            if on_top is False:  # covered (by its label, as on the real page): click what is on top
                self._find(SEL_REMEMBER_LABEL).click()
                return
            try:
                box.click()
            except Exception:  # noqa: BLE001 - covered after all: click what receives the click
                self._find(SEL_REMEMBER_LABEL).click()
        except Exception as exc:  # noqa: BLE001
            logger.info("could not tick remember me: %s", exc.__class__.__name__)
