"""The CLI's side of the app route: ``--app-sign-in``, ``--app-import``, ``XFINITY_REFRESH_TOKEN``,
``--source app`` and ``--demo --source app``.

Kept out of :mod:`xfinity_usage.cli.main` so that a plain run never imports it.
The client secret comes only from the environment (``XFINITY_CLIENT_SECRET``
or ``XFINITY_CLIENT_SECRET_FILE``), never from a flag; it, the tokens and
the pasted code are added to the run's masked strings as soon as known.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import tempfile
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Optional

from .. import options
from ..errors import ConfigError
from ..retry import Deadline

if TYPE_CHECKING:
    from ..client import XfinityUsage
    from .environment import Environment

logger = logging.getLogger(__name__)

#: Browsers the sign-in opens a window in (the others print the address instead).
WINDOWED = ("chrome", "firefox")
#: Seconds a person has for the sign-in (at least; --timeout may give more).
SIGN_IN_SECONDS = 600.0
_CODE = re.compile(r"oi-[A-Za-z0-9._~-]+")


def read_client_secret(env: Mapping[str, str]) -> str:
    """``XFINITY_CLIENT_SECRET``, else the content of ``XFINITY_CLIENT_SECRET_FILE``, else ``""``."""
    return options.secret_from_env(env, "XFINITY_CLIENT_SECRET").strip()


def import_from_cli(args: argparse.Namespace, env: "Environment", token_file: str) -> str:
    """``--app-import FILE``: the refresh token and client secret of the Xfinity Android app's
    ``ACCESS_TOKEN_STORE.xml`` into the token file; returns the client secret."""
    from ..sources.tokens import TokenFile, read_android_store

    refresh, secret = read_android_store(args.app_import)
    env.secrets.extend([refresh, secret])
    if not secret:
        secret = read_client_secret(env.env)
        env.secrets.append(secret)
    if not secret:
        raise ConfigError(f"--app-import {args.app_import} has no client secret (mLastTokenResponse.request."
                          "additionalParameters.client_secret): set XFINITY_CLIENT_SECRET or "
                          "XFINITY_CLIENT_SECRET_FILE")
    TokenFile(token_file).seed(refresh, secret, Deadline(args.timeout))
    env.stderr.write(f"imported the Xfinity app's sign-in; the tokens are in {token_file}\n")
    return secret


def seed_from_environment(env: "Environment", token_file: str, timeout: float) -> None:
    """A refresh token from ``XFINITY_REFRESH_TOKEN`` (or ``XFINITY_REFRESH_TOKEN_FILE``) becomes the
    app sign-in when none is saved yet; a saved one is kept (it may be newer)."""
    from ..sources.tokens import TokenFile

    refresh = options.secret_from_env(env.env, "XFINITY_REFRESH_TOKEN").strip()
    env.secrets.append(refresh)
    files = TokenFile(token_file)
    if not refresh or files.exists():
        if refresh:
            logger.info("XFINITY_REFRESH_TOKEN is not used: an app sign-in is saved in %s", token_file)
        return
    secret = read_client_secret(env.env)
    env.secrets.append(secret)
    if not secret:
        raise ConfigError("XFINITY_REFRESH_TOKEN needs the app's client secret it was issued to: set "
                          "XFINITY_CLIENT_SECRET or XFINITY_CLIENT_SECRET_FILE")
    files.seed(refresh, secret, Deadline(timeout))
    logger.info("saved the refresh token of XFINITY_REFRESH_TOKEN in %s", token_file)


def _ask_on_terminal(env: "Environment") -> Callable[[str], str]:
    def ask(url: str) -> str:
        env.stderr.write(
            "Open this address in a browser and sign in to Xfinity:\n\n"
            f"{url}\n\n"
            "The sign-in ends on an address starting with xfinitydigitalhome://auth?code=oi-... that the "
            "browser cannot open (see it in the developer tools' Network tab, in the Location header of the "
            "last redirect). Paste that address, or the code alone, and press Enter:\n")
        env.stderr.flush()
        line = env.stdin.readline()
        env.secrets.extend(_CODE.findall(line))
        return line

    return ask


def _ask_in_browser(args: argparse.Namespace, env: "Environment", deadline: Deadline,
                    stack: Any) -> Callable[[str], str]:
    from ..sources.app_browser import capture_redirect, quiet_selenium_logs
    from ..browsers import open_browser

    def ask(url: str) -> str:
        stack.enter_context(quiet_selenium_logs())  # until the browser has ended: its events hold the code
        driver = stack.enter_context(open_browser(args.browser, driver_path=args.driver_path,
                                                  binary_path=args.browser_path, network_log=True))
        found = capture_redirect(driver, url, deadline, name=args.browser)
        env.secrets.extend(_CODE.findall(found))
        return found

    return ask


def _sign_in(args: argparse.Namespace, env: "Environment", token_file: str, secret: str,
             urls: Optional[Mapping[str, str]], ask: Optional[Callable[[str], str]] = None) -> None:
    from ..sources.app import sign_in

    deadline = Deadline(max(args.timeout, SIGN_IN_SECONDS))
    with contextlib.ExitStack() as stack:
        if ask is None:
            ask = _ask_in_browser(args, env, deadline, stack) if args.browser in WINDOWED else _ask_on_terminal(env)
        tokens = sign_in(token_file, secret, ask, urls=urls, deadline=deadline, retries=args.retries)
    env.secrets.extend([tokens.access_token, tokens.refresh_token, tokens.id_token])
    env.stderr.write(f"signed in the way the Xfinity app does; the tokens are in {token_file}\n")


def remember_saved(env: "Environment", token_file: str) -> None:
    """Mask the saved tokens (and secret) in this run's logs and errors too."""
    from ..sources.tokens import TokenFile

    try:
        tokens, secret = TokenFile(token_file).load()
    except ConfigError:
        return
    env.secrets.extend([tokens.access_token, tokens.refresh_token, tokens.id_token, secret])


def sign_in_from_cli(args: argparse.Namespace, env: "Environment", token_file: str,
                     urls: Optional[Mapping[str, str]]) -> str:
    """``--app-sign-in``: sign in the way the app does and save the tokens; returns the client secret."""
    secret = read_client_secret(env.env)
    env.secrets.append(secret)
    if not secret:
        raise ConfigError("--app-sign-in needs the app's client secret: set XFINITY_CLIENT_SECRET or "
                          "XFINITY_CLIENT_SECRET_FILE")
    _sign_in(args, env, token_file, secret, urls)
    return secret


@contextlib.contextmanager
def demo_app_client(args: argparse.Namespace, env: "Environment", common: dict) -> Iterator["XfinityUsage"]:
    """``--demo --source app``: the whole sign-in against the simulated app, no input needed, then
    the client that reads from it (the simulated app lives as long as the block).

    With ``--app-sign-in -b chrome`` (or ``firefox``) the sign-in happens in that window (the
    demo account's ID and password are shown on stderr); otherwise the
    simulated person signs in by themselves.
    """
    from ..client import XfinityUsage
    from ..simulator.app import SimulatedApp

    with SimulatedApp() as app, tempfile.TemporaryDirectory(prefix="xfinity-usage-demo-") as tmp:
        env.secrets.append(app.client_secret)
        token_file = args.token_file or os.path.join(tmp, "app-token.json")
        ask = None
        if args.app_sign_in and args.browser in WINDOWED:
            env.stderr.write(f"demo: sign in as {app.username} with the password {app.password}\n")
        else:
            ask = app.user_sign_in
        _sign_in(args, env, token_file, app.client_secret, app.urls, ask)
        yield XfinityUsage(source="app", token_file=token_file, urls=app.urls,
                           cookie_file=os.path.join(tmp, "cookies.json"), **common)


__all__ = ["demo_app_client", "import_from_cli", "read_client_secret", "remember_saved", "seed_from_environment",
           "sign_in_from_cli"]
