"""A fake WebDriver and a fake clock, for unit tests of the site flow without a browser.

The fake shows scripted page states (what ``STATE_JS`` would return) and
moves between them on scripted events: ``driver.on("get", url, page, ...)``
or ``driver.on("click", "#sign_in", ...)`` queue what the next such event
shows (the last one repeats). A page may be a list of states, shown one per
look (e.g. loading, then the form). XHRs answer from ``driver.answer(url,
...)``, in order, the last one repeating. Everything done is in ``driver.log``.
"""
from __future__ import annotations

from typing import Any

from selenium.common.exceptions import (
    ElementClickInterceptedException,
    NoSuchElementException,
    WebDriverException,
)

from xfinity_usage.sources import pages, reader

HOME = "https://customer.example.com/"
LOGIN = "https://login.example.com/login?continue=x"
URLS = {
    "HOME_URL": HOME,
    "LOGIN_URL": "https://login.example.com/login",
    "USAGE_JSON_URL": HOME + "apis/csp/account/me/services/internet/usage?filter=internet",
    "LEGACY_USAGE_JSON_URL": HOME + "apis/services/internet/usage",
    "USAGE_PAGE_URL": HOME + "#/services/internet",
}
SIGN_IN_FORM = (pages.SEL_FORM, pages.SEL_SUBMIT)
REMEMBER = (pages.SEL_REMEMBER, pages.SEL_REMEMBER_LABEL)


class FakeClock:
    """``clock()`` is the time; ``clock.sleep(s)`` only moves it on, and records ``s``."""

    def __init__(self, now: float = 0.0):
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


# -- page states -----------------------------------------------------------------


def el(shown: bool = True, disabled: bool = False, text: str = "") -> dict:
    return {"shown": shown, "disabled": disabled, "text": text}


def state(url: str = HOME, title: str = "Xfinity My Account", text: str = "My Account", *,
          ready: str = "complete", html: int = 5000, elements: tuple = (), **fields: Any) -> dict:
    """A page state as ``STATE_JS`` returns it, plus what the fake needs: its elements."""
    out = {"url": url, "title": title, "ready": ready, "text": text, "html": html,
           "form": pages.SEL_FORM in elements, "user": None, "passwd": None, "hint": None, "mfa": None,
           "cancel": None, "reset": None, "elements": set(elements)}
    out.update(fields)
    return out


def username_page() -> dict:
    return state(LOGIN, "Sign in to Xfinity", "Sign in with your Xfinity ID", user=el(),
                 elements=SIGN_IN_FORM + REMEMBER + (pages.SEL_USER,))


def password_page(hint: str | None = None) -> dict:
    return state(LOGIN, "Sign in to Xfinity", "Sign in " + (hint or ""), user=el(disabled=True), passwd=el(),
                 hint=el(text=hint) if hint else None,
                 elements=SIGN_IN_FORM + (pages.SEL_USER, pages.SEL_PASSWD))


def bad_password_page() -> dict:
    return password_page(pages.BAD_PASSWORD_TEXT + ". Please try again.")


def one_page_form(hint: str | None = None) -> dict:
    return state(LOGIN, "Sign in to Xfinity", "Sign in " + (hint or ""), user=el(), passwd=el(),
                 elements=SIGN_IN_FORM + (pages.SEL_USER, pages.SEL_PASSWD))


def home_page(url: str = HOME, scrape: dict | None = None) -> dict:
    return state(url, scrape=scrape)


def usage_page(meter: str = "805GB remaining of 1229GB monthly plan", used: str = "424GB") -> dict:
    return home_page(URLS["USAGE_PAGE_URL"], scrape={"meter": meter, "rows": [["Oct 2026", "801GB"],
                                                                               ["Nov 2026", used]]})


def usage_page_error() -> dict:
    return home_page(URLS["USAGE_PAGE_URL"], scrape={"error": "We could not load your usage."})


def mfa_page() -> dict:
    return state("https://login.example.com/login", "Verify your identity", "Enter the code", mfa=el())


def reset_page() -> dict:
    return state("https://login.example.com/password/reset", "Reset your password", "Choose one",
                 reset=el())


def security_check_page() -> dict:
    return state("https://login.example.com/security-check", "Security Check", "Ask me later", cancel=el(),
                 elements=(pages.SEL_SKIP_SECURITY_CHECK,))


def access_denied_page(url: str = HOME) -> dict:
    return state(url, "Access Denied", "Access Denied You don't have permission to access")


def error_page(url: str = HOME) -> dict:
    return state(url, "503 Service Unavailable", "Service Unavailable")


def browser_error_page() -> dict:
    return state("chrome-error://chromewebdata/", "127.0.0.1", "This site can't be reached")


def blank_page(url: str = HOME) -> dict:
    return state(url, "", "", html=40)


def loading_page(url: str = HOME) -> dict:
    return state(url, "", "", ready="loading", html=40)


def other_page(url: str = "https://elsewhere.example.com/login") -> dict:
    return state(url, "Sign in", "Welcome")


# -- the driver ------------------------------------------------------------------


class FakeElement:
    def __init__(self, driver: "FakeDriver", selector: str):
        self.driver, self.selector = driver, selector

    def clear(self) -> None:
        self.driver.log.append(("clear", self.selector))

    def send_keys(self, value: str) -> None:
        self.driver.log.append(("type", self.selector, value))

    def is_selected(self) -> bool:
        return ("click", pages.SEL_REMEMBER_LABEL) in self.driver.log

    def click(self) -> None:
        page = self.driver.page
        failure = page.get("click_fails", {}).get(self.selector)
        if self.selector == pages.SEL_REMEMBER:  # beneath its label, as on the real page
            failure = ElementClickInterceptedException("label#remember_me_checkbox would receive the click")
        if failure is not None:
            self.driver.log.append(("click failed", self.selector))
            raise failure
        self.driver.log.append(("click", self.selector))
        self.driver.event("click", self.selector)


class FakeDriver:
    """A WebDriver whose pages and XHR answers are scripted (see the module docstring)."""

    def __init__(self, first: Any = None, cookies: dict | None = None):
        self.shown: list[dict] = list(_states(first or blank_page()))
        self.log: list[tuple] = []
        self.scripts: dict[tuple, list] = {}
        self.answers: dict[str, list] = {}
        self.xhrs: list[tuple[str, dict]] = []
        self.cookies = dict(cookies or {})
        self.state_calls = 0

    # scripting
    def on(self, action: str, target: str, *outcomes: Any) -> "FakeDriver":
        """What the next ``action`` ("get", "refresh", "click") on ``target`` shows, one outcome per event.

        An outcome is a state, a list of states shown one per look, or an
        exception to raise (the page stays).
        """
        self.scripts.setdefault((action, target), []).extend(outcomes)
        return self

    def answer(self, url: str, *answers: Any) -> "FakeDriver":
        """XHR answers for ``url``: ``(status, body)`` tuples, or exceptions to raise."""
        self.answers.setdefault(url, []).extend(answers)
        return self

    @property
    def page(self) -> dict:
        return self.shown[0]

    def event(self, action: str, target: str) -> None:
        queue = self.scripts.get((action, target))
        if queue is None and action == "refresh":
            queue = self.scripts.get(("get", target))
        if not queue:
            return  # nothing scripted: the page stays
        outcome = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(outcome, BaseException):
            raise outcome
        self.shown = list(_states(outcome))

    def count(self, *entry: Any) -> int:
        return sum(1 for e in self.log if e[:len(entry)] == entry)

    # the WebDriver API the flow uses
    def get(self, url: str) -> None:
        self.log.append(("get", url))
        self.event("get", url)

    def refresh(self) -> None:
        self.log.append(("refresh", self.current_url))
        self.event("refresh", self.current_url)

    @property
    def current_url(self) -> str:
        return self.page["url"]

    @property
    def title(self) -> str:
        return self.page["title"]

    def execute_script(self, script: str, *args: Any) -> Any:
        if script == pages.STATE_JS:
            assert args == pages.STATE_ARGS
            self.state_calls += 1
            page = self.shown.pop(0) if len(self.shown) > 1 else self.shown[0]
            if page.get("raises"):
                raise WebDriverException("page in flux")
            return {k: v for k, v in page.items() if k not in ("elements", "scrape", "click_fails", "raises", "on_top")}
        if script == pages.ON_TOP_JS:  # the real page's checkbox sits beneath its label
            return self.page.get("on_top", {}).get(args[0], False if args[0] == pages.SEL_REMEMBER else None)
        if script == reader.SCRAPE_JS:
            assert args == reader.SCRAPE_ARGS
            return self.page.get("scrape")
        raise AssertionError(f"unexpected script {script[:40]!r}")

    def set_script_timeout(self, seconds: float) -> None:
        self.log.append(("script timeout", seconds))

    def execute_async_script(self, script: str, url: str, headers: dict) -> Any:
        assert script == reader.XHR_JS
        self.xhrs.append((url, dict(headers)))
        queue = self.answers.get(url) or [(404, "<html>Not found</html>")]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, BaseException):
            raise answer
        status, body = answer
        return {"status": status, "type": "application/json", "body": body}

    def get_cookie(self, name: str) -> dict | None:
        return {"name": name, "value": self.cookies[name]} if name in self.cookies else None

    def find_element(self, by: str, selector: str) -> FakeElement:
        assert by == "css selector"
        if selector not in self.page["elements"]:
            raise NoSuchElementException(selector)
        return FakeElement(self, selector)


def _states(outcome: Any) -> list:
    return [dict(s) for s in outcome] if isinstance(outcome, list) else [dict(outcome)]
