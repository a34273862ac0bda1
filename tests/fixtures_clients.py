"""Fixtures: the one client factory of the end-to-end tests, and browsers shared between tests.

Every end-to-end test builds its :class:`XfinityUsage` with ``make_client``:
the demo account, a private cookie file, chrome-headless, no saved session
and a fast backoff unless the test says otherwise. Tests choose their own
timeouts: short ``timeouts=Timeouts(...)`` and ``timeout=`` where they
expect a give-up, the real defaults everywhere else.

``shared_browsers`` keeps one running browser per name for the tests that
use it, for the whole session (one pool per xdist worker): each use starts
from a blank page without cookies, with the WebDriver timeouts and window
size the browser started with, so a test sees a fresh session, and only the
browser's start and end are saved. Tests about the browser's own life
(start, end, leftovers, crash) never share.
"""
from __future__ import annotations

import contextlib
import http.server
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from xfinity_usage import XfinityUsage, browsers
from xfinity_usage.sources.pages import Timeouts
from xfinity_usage.retry import Backoff
from xfinity_usage.simulator import DEMO_PASSWORD, DEMO_USERNAME

from .proctools import MARKER_ENV

#: The real open_browser, whatever a test patched in its place.
_open_browser = browsers.open_browser

#: The browser of the scenario tests: the tool's default, and here the cheapest per sign-in
#: (about 1.1 CPU-seconds, where headless Chromium takes about 2; benchmarks/signin.py).
MATRIX_BROWSER = "firefox-headless"
#: Short waits for runs against the simulated site, whose pages settle in well under a second: a
#: broken (blank, truncated) page need not be watched 5 s before it counts as one.
FAST = Timeouts(step=15.0, other_page_grace=1.0, poll=0.1)


#: Mark: the test runs in the session's running browser (fresh cookies each time) instead of starting one.
in_shared_browser = pytest.mark.usefixtures("shared_browser")


def fast_backoff() -> Backoff:
    """A real backoff (growing, jittered) in milliseconds instead of seconds."""
    return Backoff(base=0.005, cap=0.05)


@pytest.fixture
def make_client(tmp_path: Path):
    """Factory: ``make_client(site_or_urls, **kwargs)`` -> :class:`XfinityUsage` for the demo account.

    Defaults: ``cookie_file`` in ``tmp_path/state``, ``browser_name`` chrome-headless,
    ``reuse_session=False``, ``timeout=90``, a fast backoff; any keyword overrides them.
    """

    def make(site: Any, username: str = DEMO_USERNAME, password: str = DEMO_PASSWORD, **kwargs: Any) -> XfinityUsage:
        urls = site if isinstance(site, dict) else site.urls
        kwargs.setdefault("cookie_file", str(tmp_path / "state" / "cookies.json"))
        kwargs.setdefault("browser_name", MATRIX_BROWSER)
        kwargs.setdefault("reuse_session", False)
        kwargs.setdefault("timeout", 90)
        kwargs.setdefault("backoff", fast_backoff)
        return XfinityUsage(username, password, urls=urls, **kwargs)

    return make


class _Blank(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"<!DOCTYPE html><html><head><title>blank</title></head><body></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class SharedBrowsers:
    """Running browsers by name; :meth:`open` stands in for :func:`xfinity_usage.browsers.open_browser`.

    The simulated sites all live on 127.0.0.1 (a new port each), and cookies
    do not care about ports: before each use the browser loads a blank page
    on 127.0.0.1, deletes every cookie there, and goes back to about:blank.
    """

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._drivers: dict[tuple[str, bool], Any] = {}  # (name, network_log) -> driver
        self._sizes: dict[tuple[str, bool], dict] = {}  # (name, network_log) -> window size at start
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Blank)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.blank_url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._environ, self._tempdir, self._cwd = dict(os.environ), tempfile.tempdir, os.getcwd()
        #: How many browsers were started, and how many uses they served.
        self.started = 0
        self.uses = 0

    def _driver(self, name: str, network_log: bool) -> Any:
        # Firefox always with its WebDriver BiDi channel: the browser source asks for it anyway,
        # and a test that does not use it cannot tell; one Firefox start saved per kind and worker.
        network_log = network_log or name.startswith("firefox")
        key = (name, network_log)
        driver = self._drivers.get(key)
        if driver is not None:
            try:
                driver.set_page_load_timeout(30)
                driver.get(self.blank_url)
                driver.delete_all_cookies()
                # What an earlier test may have changed: the waits, and the window.
                driver.implicitly_wait(0)
                driver.set_script_timeout(30)
                if driver.get_window_size() != self._sizes[key]:
                    driver.set_window_size(**self._sizes[key])
                if not driver.get_cookies():
                    # Back where a new browser starts: PhantomJS tells a failed navigation
                    # by the page it stays on (about:blank, not the page before).
                    driver.get("about:blank")
                    return driver
            except Exception:  # noqa: BLE001 - a broken browser is replaced below
                pass
            self._drivers.pop(key)
        # Started in the session's environment, temp dir and cwd, whatever the test that first
        # asks for it changed: its profile must not live in (and die with) one test's private dirs.
        # Tagged as not this run's own (see tests/proctools.py): a shared browser idling
        # in the background is not a process a leak check in another test may count.
        with pytest.MonkeyPatch.context() as patch:
            for variable in set(os.environ) - set(self._environ):
                patch.delenv(variable)
            for variable, value in self._environ.items():
                if os.environ.get(variable) != value:
                    patch.setenv(variable, value)
            patch.setenv(MARKER_ENV, self._environ.get(MARKER_ENV, "") + "-shared")
            patch.setattr(tempfile, "tempdir", self._tempdir)
            patch.chdir(self._cwd)
            driver = self._stack.enter_context(_open_browser(name, network_log=network_log))
        self.started += 1
        self._drivers[key] = driver
        self._sizes[key] = driver.get_window_size()
        return driver

    @contextlib.contextmanager
    def open(self, name: str, *, page_load_timeout: float = 30.0, network_log: bool = False,
             **kwargs: Any) -> Iterator[Any]:
        """The running ``name`` browser on a blank page without cookies (started if need be)."""
        if any(value is not None for value in kwargs.values()):
            raise AssertionError(f"a shared browser cannot honour {kwargs}")
        driver = self._driver(name, network_log)
        driver.set_page_load_timeout(page_load_timeout)
        self.uses += 1
        yield driver

    def close(self) -> None:
        try:
            self._stack.close()
        finally:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture(scope="session")
def shared_browsers(xvfb: str) -> Iterator[SharedBrowsers]:
    """The running browsers of the session, one pool per xdist worker (killed at its end).

    It holds the session's Xvfb display (started first, so stopped last): a
    windowed browser of the pool must not lose its display before it is killed.
    """
    pool = SharedBrowsers()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def shared_browser(shared_browsers: SharedBrowsers, monkeypatch: pytest.MonkeyPatch) -> SharedBrowsers:
    """During the test, every ``open_browser`` hands out the session's running browser of that name."""
    monkeypatch.setattr(browsers, "open_browser", shared_browsers.open)
    return shared_browsers
