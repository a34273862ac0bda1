"""The run order of tests/scheduling.py: own-browser e2e tests, then e2e tests by shared browser, then the rest."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from .fixtures_clients import MATRIX_BROWSER
from .scheduling import SHARED_ORDER, run_order, shared_browser_of


def item(test, *, e2e=True, shared=False, **params):
    """A stand-in for a collected test: its markers, fixtures and parameters."""
    fixtures = ["tmp_path"] + (["shared_browser"] if shared else [])
    marker = SimpleNamespace(name="e2e") if e2e else None
    return SimpleNamespace(test=test, fixturenames=fixtures, callspec=SimpleNamespace(params=params),
                           get_closest_marker=lambda wanted: marker if wanted == "e2e" else None)


def test_a_test_without_the_shared_browsers_has_none():
    assert shared_browser_of(item("own", browser_name="firefox")) is None


@pytest.mark.parametrize("key", ["browser_name", "browser", "name"])
def test_the_shared_browser_is_named_by_a_parameter(key):
    assert shared_browser_of(item("t", shared=True, **{key: "firefox"})) == "firefox"


def test_a_shared_browser_test_without_a_browser_parameter_uses_the_matrix_browser():
    assert shared_browser_of(item("t", shared=True, kind="reset")) == MATRIX_BROWSER
    assert shared_browser_of(item("t", shared=True, name="not-a-browser")) == MATRIX_BROWSER


def test_or_its_modules_shared_browser():
    test = item("t", shared=True, kind="reset")
    test.module = SimpleNamespace(SHARED_BROWSER="phantomjs")
    assert shared_browser_of(test) == "phantomjs"


def test_order_own_browsers_then_shared_by_start_cost_then_quick_tests():
    items = [item("quick", e2e=False), item("shared-ch", shared=True, browser="chrome-headless"),
             item("shared-ff", shared=True, browser="firefox"),
             item("own", browser_name="firefox"), item("shared-ph", shared=True, name="phantomjs")]
    assert [i.test for i in sorted(items, key=run_order)] == ["own", "shared-ff", "shared-ph", "shared-ch", "quick"]
    assert SHARED_ORDER[:2] == ("firefox", "firefox-headless")  # the costliest to start come first
