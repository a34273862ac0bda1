"""The order tests run in (hooks imported by conftest.py).

* End-to-end tests (``e2e``: real browsers, seconds each) come first, the
  quick ones last. With pytest-xdist's ``worksteal`` (tox.ini), a worker that
  runs out then takes tests from the end of another's queue, so the run does
  not end on one worker finishing a long browser test while the other idles.
* Among the end-to-end tests, those that start their own browsers come
  first, then those that use the session's running browsers
  (tests/fixtures_clients.py), one browser after another, the costliest to
  start first. Each xdist worker keeps its own running browsers: tests of one
  browser next to each other mostly end up on one worker, and that browser
  is then started once per run rather than once per worker.
"""
from __future__ import annotations

from typing import Any

from .fixtures_clients import MATRIX_BROWSER

#: The shared browsers in the order their tests run: Firefox costs about 7 CPU-seconds to start.
SHARED_ORDER = ("firefox", "firefox-headless", "chrome", "phantomjs", "chrome-headless")
#: The parameters that name a test's browser. A shared-browser test without one uses its module's
#: ``SHARED_BROWSER`` if it has one, else the suite's MATRIX_BROWSER (tests/fixtures_clients.py).
BROWSER_PARAMS = ("browser_name", "browser", "name")


def shared_browser_of(item: Any) -> str | None:
    """The shared browser ``item`` uses (None: it uses none, and starts its own if any)."""
    if "shared_browser" not in getattr(item, "fixturenames", ()):
        return None
    params = getattr(getattr(item, "callspec", None), "params", {})
    for key in BROWSER_PARAMS:
        if params.get(key) in SHARED_ORDER:
            return params[key]
    return getattr(getattr(item, "module", None), "SHARED_BROWSER", MATRIX_BROWSER)


def run_order(item: Any) -> tuple[int, int]:
    """Sort key: e2e tests starting their own browsers, then e2e tests by shared browser, then the rest."""
    if item.get_closest_marker("e2e") is None:
        return (2, 0)
    shared = shared_browser_of(item)
    return (0, 0) if shared is None else (1, SHARED_ORDER.index(shared))


def pytest_collection_modifyitems(config, items):
    items.sort(key=run_order)  # stable: each group keeps its usual order
