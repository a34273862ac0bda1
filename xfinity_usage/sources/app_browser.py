"""The app sign-in in a real, windowed browser: open the authorize URL, wait for the redirect.

The person signs in in the window (verification code included). The
sign-in ends with a redirect to ``xfinitydigitalhome://auth?code=...``, a
scheme no desktop browser loads: the window stays on the last web page, and
neither the address bar nor ``driver.current_url`` shows the address. The
redirect is found in the browser's own record of its network traffic:

* Firefox (and any browser started with the ``webSocketUrl`` capability):
  the WebDriver BiDi event ``network.responseStarted`` of the last redirect
  carries its ``Location`` header;
* Chrome: the performance log (``goog:loggingPrefs``) holds the same header.

A browser with neither is refused at once (:class:`BrowserError`): the person
pastes the address instead. The code is a secret: it is never logged, and
:func:`quiet_selenium_logs` keeps Selenium's own DEBUG logs of that traffic
from repeating it.
"""
from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from typing import Any, Callable, Iterable, Iterator

from ..errors import BrowserError, SiteUnavailableError
from .oauth import REDIRECT_URI
from ..retry import Deadline

logger = logging.getLogger(__name__)

SCHEME = REDIRECT_URI.split("://", 1)[0] + "://"
#: What the person is told when the browser cannot report the redirect.
NO_CAPTURE = ("{name} cannot report where the sign-in ends (no WebDriver BiDi network events, no performance "
              "log): run without -b chrome/firefox and paste the address instead")
#: The BiDi network events watched: the redirect's response (its Location header), and the request
#: to the custom scheme should a browser ever send one.
BIDI_EVENTS = ("response_started", "before_request_sent")
#: Selenium's loggers that write the WebDriver traffic (BiDi messages, command answers) at DEBUG.
SELENIUM_TRAFFIC_LOGGERS = ("selenium.webdriver.remote.websocket_connection",
                            "selenium.webdriver.remote.remote_connection")


def find_redirect(values: Iterable[Any]) -> str | None:
    """The first ``xfinitydigitalhome://auth?...code=`` string in nested JSON-like values."""
    stack = list(values)
    while stack:
        value = stack.pop(0)
        if isinstance(value, str):
            if value.startswith(REDIRECT_URI) and "code=" in value:
                return value
            if value.startswith("{") and SCHEME in value:
                try:
                    stack.append(json.loads(value))
                except ValueError:
                    pass
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
        elif hasattr(value, "__dataclass_fields__"):  # Selenium's BiDi event parameters
            stack.extend(vars(value).values())
    return None


class _RedirectFilter(logging.Filter):
    """Replaces a record that mentions the app's redirect (and so may hold the code) by a placeholder."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record: not ours to judge
            return True
        if "xfinitydigitalhome" in text or "code=oi-" in text:
            record.msg, record.args = "(a WebDriver message about the sign-in redirect, not logged)", ()
            record.exc_info = record.exc_text = None
        return True


@contextlib.contextmanager
def quiet_selenium_logs() -> Iterator[None]:
    """While open, Selenium's DEBUG logs of WebDriver traffic never show the sign-in redirect.

    Those messages are logged (at ``-vvv``) as they arrive, before anyone
    knows the code to mask it. Keep it open for the browser's whole life:
    events keep coming until it is killed.
    """
    quiet = _RedirectFilter()
    loggers = [logging.getLogger(name) for name in SELENIUM_TRAFFIC_LOGGERS]
    for each in loggers:
        each.addFilter(quiet)
    try:
        yield
    finally:
        for each in loggers:
            each.removeFilter(quiet)


class _BidiWatch:
    """The redirect as the browser's WebDriver BiDi network events report it (Firefox)."""

    def __init__(self, driver: Any):
        self.driver = driver
        self.found: str | None = None
        self._lock = threading.Lock()
        self._handlers: list[tuple[str, int]] = []

    def start(self) -> bool:
        """Subscribe; False when the session has no BiDi (no ``webSocketUrl``) or refuses the events."""
        try:
            capabilities = self.driver.capabilities
        except Exception:  # noqa: BLE001 - a fake or broken driver: no BiDi
            return False
        if not isinstance(capabilities, dict) or not isinstance(capabilities.get("webSocketUrl"), str):
            return False
        try:
            network = self.driver.network
            for event in BIDI_EVENTS:
                self._handlers.append((event, network.add_event_handler(event, self._event)))
        except Exception as exc:  # noqa: BLE001 - an old browser without these events
            logger.debug("no WebDriver BiDi network events (%s)", type(exc).__name__)
            self.stop()
            return False
        return True

    def _event(self, params: Any) -> None:  # on Selenium's WebSocket thread
        if self.found is None:
            found = find_redirect([params])
            if found:
                with self._lock:
                    self.found = self.found or found

    def stop(self) -> None:
        handlers, self._handlers = self._handlers, []
        for event, handler in handlers:
            try:
                self.driver.network.remove_event_handler(event, handler)
            except Exception:  # noqa: BLE001 - the browser may be gone already
                logger.debug("could not unsubscribe from %s", event)


def _has_network_log(driver: Any) -> bool:
    try:
        driver.get_log("performance")
    except Exception:  # noqa: BLE001 - only Chrome started with goog:loggingPrefs keeps one
        return False
    return True


def capture_redirect(driver: Any, url: str, deadline: Deadline, *, poll: float = 0.2,
                     sleep: Callable[[float], None] = time.sleep, name: str = "this browser") -> str:
    """Open ``url`` in ``driver`` and return the ``xfinitydigitalhome://`` address the sign-in ends on.

    Raises :class:`BrowserError` at once, before opening anything, when the
    browser has no way to report the redirect; :class:`SiteUnavailableError`
    when no sign-in finished before ``deadline``.
    """
    watch = _BidiWatch(driver)
    bidi = watch.start()
    log = not bidi and _has_network_log(driver)
    if not (bidi or log):
        raise BrowserError(NO_CAPTURE.format(name=name))
    try:
        driver.get(url)
        logger.info("waiting for the sign-in in the browser window (watching its %s)",
                    "WebDriver BiDi network events" if bidi else "performance log")
        while True:
            found = watch.found or _from_address_bar(driver) or (_from_network_log(driver) if log else None)
            if found:
                logger.info("the browser was sent back to the app: sign-in captured")
                return found
            if deadline.remaining() <= 0:
                raise SiteUnavailableError(f"no sign-in finished in the browser within {deadline.seconds:g} s "
                                           "(raise --timeout, or paste the address instead: run without -b)")
            sleep(deadline.cap(poll))
    finally:
        watch.stop()


def _from_address_bar(driver: Any) -> str | None:
    try:
        current = driver.current_url
    except Exception:  # noqa: BLE001 - a window in the middle of a navigation
        return None
    return current if isinstance(current, str) and current.startswith(SCHEME) else None


def _from_network_log(driver: Any) -> str | None:
    try:
        entries = driver.get_log("performance")
    except Exception:  # noqa: BLE001 - only Chrome keeps one
        return None
    return find_redirect(entry.get("message", "") for entry in entries if isinstance(entry, dict))


__all__ = ["capture_redirect", "find_redirect", "quiet_selenium_logs"]
