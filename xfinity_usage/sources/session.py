"""The cookie file, and reading the usage with saved cookies and no browser.

The cookie file is JSON (mode 0600)::

    {"version": 1, "saved": <epoch>, "origin": "https://customer.xfinity.com",
     "cookies": [<WebDriver cookie dicts>]}

Only cookies whose domain matches the usage URL's host are ever sent.
This module never imports Selenium.
"""
from __future__ import annotations

import json
import logging
import os
import time
from typing import Mapping, Optional
from urllib.parse import unquote, urlsplit

from . import usage
from ..errors import SiteUnavailableError, XfinityUsageError
from ..reading import Reading
from ..files import write_private, xdg_dir

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


class SessionExpired(XfinityUsageError):
    """The saved session no longer works; a browser login is needed."""


def save_cookies(path: str, cookies: list, origin: str) -> None:
    """Write the browser's cookies for ``origin`` to ``path`` (0600, atomically)."""
    data = {"version": FORMAT_VERSION, "saved": int(time.time()), "origin": origin,
            "cookies": [dict(c) for c in cookies]}
    write_private(path, json.dumps(data, indent=1, sort_keys=True).encode())
    logger.info("saved %d cookies to %s", len(cookies), path)


def load_cookies(path: str, origin: str) -> Optional[list]:
    """The saved cookies for ``origin``, or None (with a warning) if the file is unusable."""
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read().decode("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        logger.warning("ignoring unreadable cookie file %s (%s); it will be replaced", path,
                       exc.__class__.__name__)
        return None
    if (not isinstance(data, dict) or data.get("version") != FORMAT_VERSION
            or not isinstance(data.get("cookies"), list)):
        logger.warning("ignoring cookie file %s: not a cookie file of this tool; it will be replaced", path)
        return None
    if data.get("origin") != origin:
        logger.warning("ignoring cookie file %s: it holds cookies for %s, not %s; it will be replaced",
                       path, data.get("origin"), origin)
        return None
    cookies = [c for c in data["cookies"] if isinstance(c, dict)
               and isinstance(c.get("name"), str) and isinstance(c.get("value"), str)]
    return cookies


def domain_matches(host: str, domain: Optional[str]) -> bool:
    """RFC 6265 domain matching (a leading dot allows subdomains)."""
    if not domain:
        return False
    domain = domain.lower().lstrip(".")
    host = host.lower()
    return host == domain or host.endswith("." + domain)


def cookies_for(url: str, cookies: list, now: Optional[float] = None) -> dict:
    """The name->value cookies a browser would send to ``url``."""
    now = time.time() if now is None else now
    parts = urlsplit(url)
    host, path, secure = parts.hostname or "", parts.path or "/", parts.scheme == "https"
    jar = {}
    for c in cookies:
        if not domain_matches(host, c.get("domain")):
            continue
        if not path.startswith(c.get("path") or "/"):
            continue
        if c.get("secure") and not secure:
            continue
        expiry = c.get("expiry")
        if isinstance(expiry, (int, float)) and expiry < now:
            continue
        jar[c["name"]] = c["value"]
    return jar


def fetch_usage(urls: Mapping[str, str], cookies: list, *, timeout: float = 10.0,
                ca_certs: Optional[str] = None) -> Reading:
    """Read the usage JSON with the saved cookies over HTTP(S), TLS verified.

    Raises :class:`SessionExpired` when the session is gone, other errors
    of this package when the site fails.
    """
    from ..transport import request

    login_host = urlsplit(urls["LOGIN_URL"]).netloc
    last: Optional[XfinityUsageError] = None
    for key in ("USAGE_JSON_URL", "LEGACY_USAGE_JSON_URL"):
        url = urls[key]
        jar = cookies_for(url, cookies)
        if not jar:
            raise SessionExpired("no saved cookies for the usage site")
        headers = {"Accept": "application/json",
                   "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}
        if "XSRF-TOKEN" in jar:
            headers["x-xsrf-token"] = unquote(jar["XSRF-TOKEN"])
        resp = request("GET", url, headers, None, timeout, ca_certs=ca_certs)  # SiteUnavailableError
        status, data = resp
        body = data.decode("utf-8", "replace")
        location = resp.headers.get("location", "")
        if status in (401, 403) or (300 <= status < 400 and (
                login_host in location or "/login" in location or "/oauth" in location)):
            raise SessionExpired(f"the saved session was refused (HTTP {status})")
        if usage.is_not_supported(status, body):
            return usage.unlimited_reading(json.loads(body))
        if status == 404:
            last = SessionExpired(f"{url} is gone (HTTP 404)")
            continue
        if status >= 500:
            raise SiteUnavailableError(f"{url} answered HTTP {status}")
        content_type = resp.headers.get("content-type", "")
        if status != 200 or "json" not in content_type:
            raise SessionExpired(f"{url} answered HTTP {status} {content_type}")
        try:
            raw = json.loads(body)
        except ValueError:
            raise SessionExpired(f"{url} sent a body that is not JSON") from None
        if not isinstance(raw, dict) or "usageMonths" not in raw:
            raise SessionExpired(f"{url} sent JSON without usageMonths")
        return usage.reading_from_json(raw)
    raise last or SessionExpired("no usage endpoint answered")


def default_cookie_file(env: Optional[Mapping[str, str]] = None) -> str:
    """``$XDG_CACHE_HOME/xfinity-usage/cookies.json`` (``~/.cache/...`` by default)."""
    return os.path.join(xdg_dir("cache", env), "cookies.json")
