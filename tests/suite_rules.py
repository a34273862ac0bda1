"""Rules of this test suite, enforced while it runs (hooks imported by conftest.py).

* A test that skips is a failure: a missing browser, driver or tool must be
  installed, not silently left out. (``xfail`` stays available.)
* The processes the tests start can be stopped with SIGINT, as from a
  terminal, even when the suite itself was started with SIGINT ignored (a
  background job of a shell without job control): the signal tests send it.
"""
from __future__ import annotations

import signal

import pytest


def pytest_configure(config):
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        # A handled signal is reset to the default in a child at exec; an ignored one stays ignored.
        signal.signal(signal.SIGINT, signal.default_int_handler)


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
