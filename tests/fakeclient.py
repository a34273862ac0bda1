"""A stand-in for the run's client in CLI tests: its reads come from a function, no site is involved."""
from __future__ import annotations

import contextlib
import os
import tempfile

from xfinity_usage.cli import runs
from xfinity_usage.locks import file_lock


class FakeClient:
    """``read()`` returns ``fetch(args, env)``; the account lock lives in a private temporary directory."""

    def __init__(self, fetch, args, env):
        self.fetch, self.args, self.env = fetch, args, env
        self.lock_path = os.path.join(tempfile.mkdtemp(prefix="fake-account-"), "account.lock")

    def read(self):
        return self.fetch(self.args, self.env)

    def account_lock(self):
        return file_lock(self.lock_path)


def fake_client(monkeypatch, fetch):
    """Make every CLI run in this test read with ``fetch(args, env)`` (a Reading, or raise)."""

    @contextlib.contextmanager
    def open_client(args, env):
        yield FakeClient(fetch, args, env)

    monkeypatch.setattr(runs, "open_client", open_client)
