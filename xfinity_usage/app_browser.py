"""The app sign-in in a real, windowed browser: open the authorize URL, wait for the redirect.

The person signs in in the window (verification code included). The
sign-in ends with a redirect to ``xfinitydigitalhome://auth?code=...``, a
scheme no desktop browser loads: the window stays on the last web page.
The redirect is found in Chrome's performance log (its ``Location``
header), or in the address bar when a browser does show it.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Iterable

from .errors import SiteUnavailableError
from .oauth import REDIRECT_URI
from .retry import Deadline

logger = logging.getLogger(__name__)

SCHEME = REDIRECT_URI.split("://", 1)[0] + "://"


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
    return None


def capture_redirect(driver: Any, url: str, deadline: Deadline, *, poll: float = 0.2,
                     sleep: Callable[[float], None] = time.sleep) -> str:
    """Open ``url`` in ``driver`` and return the ``xfinitydigitalhome://`` address the sign-in ends on."""
    driver.get(url)
    logger.info("waiting for the sign-in in the browser window")
    while True:
        found = _from_address_bar(driver) or _from_network_log(driver)
        if found:
            logger.info("the browser was sent back to the app: sign-in captured")
            return found
        if deadline.remaining() <= 0:
            raise SiteUnavailableError(f"no sign-in finished in the browser within {deadline.seconds:g} s "
                                       "(raise --timeout, or paste the address instead: run without -b)")
        sleep(deadline.cap(poll))


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


__all__ = ["capture_redirect", "find_redirect"]
