"""The order tests run in (hooks imported by conftest.py).

* End-to-end tests (``e2e``: real browsers, seconds each) come first, the
  quick ones last, each group in its usual order. With pytest-xdist's
  ``worksteal`` (tox.ini), a worker that runs out then takes quick tests
  from another, so the run does not end on one worker finishing a long
  browser test while the other idles.
"""
from __future__ import annotations


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)  # stable: False (e2e) first
