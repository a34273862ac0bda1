"""Rules of this test suite, enforced while it runs (hooks imported by conftest.py).

* A test that skips is a failure: a missing browser, driver or tool must be
  installed, not silently left out. (``xfail`` stays available.)
"""
from __future__ import annotations

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid} skipped: {reason}\n"
                           "A skipped test fails this suite: install what it needs (see README, `make test`).")
