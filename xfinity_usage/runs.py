"""From the command line to a way of reading: the one place that turns the options into a client.

Both a one-shot run (:func:`xfinity_usage.cli.run`) and the long-running
mode (:mod:`xfinity_usage.loop`) read through :func:`open_reader`, so the
client options, the demo and the choice between the app route and the
browser route are decided once.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from typing import TYPE_CHECKING, Callable, Iterator

from .errors import ConfigError

if TYPE_CHECKING:
    from .cli import Environment
    from .reading import Reading


def client_options(args: argparse.Namespace) -> dict:
    """The :class:`~xfinity_usage.client.XfinityUsage` keyword arguments the options set."""
    return dict(debug=args.verbose >= 1, browser_name=args.browser, reuse_session=not args.fresh_login,
                timeout=args.timeout, retries=args.retries, debug_dir=args.debug_dir,
                driver_path=args.driver_path, browser_path=args.browser_path, force=args.force)


def app_route(args: argparse.Namespace, token_file: str) -> bool:
    """True when this run reads with the app's API: asked for, or ``auto`` with a saved app sign-in."""
    source = getattr(args, "source", "auto")
    return bool(getattr(args, "app_sign_in", False)) or source == "app" or (
        source == "auto" and os.path.exists(token_file))


@contextlib.contextmanager
def open_reader(args: argparse.Namespace, env: Environment) -> Iterator[tuple[Callable[[], Reading], str]]:
    """``(read, lock_path)``: a function that reads the usage (one client, reused by every call,
    so the warm paths stay warm) and the lock file of the account it reads."""
    from .cli import _site_urls, read_credentials
    from .client import XfinityUsage
    from .tokens import default_token_file

    common = client_options(args)
    token_file = getattr(args, "token_file", None) or default_token_file(env.env)
    if getattr(args, "app_sign_in", False) and getattr(args, "source", "auto") == "browser":
        raise ConfigError("--app-sign-in reads with the app's API: leave out --source browser")
    if args.demo and app_route(args, token_file) and (args.source == "app" or args.app_sign_in):
        from .app_cli import demo_app

        with tempfile.TemporaryDirectory(prefix="xfinity-usage-demo-") as tmp:
            yield (lambda: demo_app(args, env, common)), os.path.join(tmp, "account.lock")
        return
    if args.demo:
        from .simulator import DEMO_PASSWORD, DEMO_USERNAME, SimulatedSite

        with SimulatedSite() as site, tempfile.TemporaryDirectory(prefix="xfinity-usage-demo-") as tmp:
            cookie_file = args.cookie_file or os.path.join(tmp, "cookies.json")
            client = XfinityUsage(DEMO_USERNAME, DEMO_PASSWORD, cookie_file=cookie_file, urls=site.urls, **common)
            yield client.read, cookie_file + ".lock"
        return
    urls = _site_urls(args.site_urls)
    if app_route(args, token_file):  # the token file is the warm path: each read reuses or refreshes it
        from .app_cli import read_app

        yield (lambda: read_app(args, env, common, token_file, urls)), token_file + ".lock"
        return
    from .session import default_cookie_file

    user, password = read_credentials(env.env)
    env.secrets.extend([password, user])
    cookie_file = args.cookie_file or default_cookie_file(env.env)
    client = XfinityUsage(user, password, cookie_file=cookie_file, urls=urls, source="browser",
                          token_file=token_file, **common)
    yield client.read, cookie_file + ".lock"
