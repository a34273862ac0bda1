"""From the command line to the objects of a run: one client, the history, the sinks, the pipeline.

A single run (:func:`xfinity_usage.cli.main.run`) and the long-running mode
(:mod:`xfinity_usage.cli.loop`) both build their :class:`~xfinity_usage.pipeline.Pipeline`
with :func:`open_pipeline`, so the client options, the demo, whether history
is kept and which sinks are fed are decided here once. The route (the app's
API, or the saved session and the browser) is the client's choice alone.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Optional

from .. import sinks
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..client import XfinityUsage
    from .environment import Environment
    from ..pipeline import Pipeline


def client_options(args: argparse.Namespace) -> dict:
    """The :class:`~xfinity_usage.client.XfinityUsage` keyword arguments the options set."""
    return dict(debug=args.verbose >= 1, browser_name=args.browser, reuse_session=not args.fresh_login,
                timeout=args.timeout, retries=args.retries, debug_dir=args.debug_dir,
                driver_path=args.driver_path, browser_path=args.browser_path, force=args.force)


def read_credentials(env: Mapping[str, str]) -> tuple[str, str]:
    """The username and password from the environment (or the password file)."""
    from .. import options

    user = env.get("XFINITY_USER", "")
    password = options.secret_from_env(env, "XFINITY_PASSWORD")
    if not user:
        raise ConfigError("XFINITY_USER is not set; export your Xfinity ID as XFINITY_USER")
    if not password:
        raise ConfigError("XFINITY_PASSWORD (or XFINITY_PASSWORD_FILE) is not set; export your password")
    return user, password


def site_urls(path: Optional[str]) -> Optional[dict]:
    """The URLs of ``--site-urls FILE`` (a JSON object, or the line the simulator prints)."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            urls = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read --site-urls {path}: {exc}") from None
    if isinstance(urls, dict) and isinstance(urls.get("urls"), dict):  # the line the simulator prints
        urls = urls["urls"]
    if not isinstance(urls, dict) or not all(isinstance(v, str) for v in urls.values()):
        raise ConfigError(f"--site-urls {path} must hold a JSON object of URL strings")
    return urls


def history_path(args: argparse.Namespace, env: Mapping[str, str]) -> Optional[str]:
    """Where this run keeps its history; None when it keeps none (``--no-history``, or the demo
    without ``--history-db``: demo readings stay out of the real history). The one place that says."""
    if args.no_history or (args.demo and not args.history_db):
        if getattr(args, "offline", False):
            raise ConfigError("--offline reports from the history: it cannot go with --no-history, "
                              "nor with --demo without --history-db")
        return None
    if args.history_db:
        return args.history_db
    from ..history.store import default_history_path

    return default_history_path(env)


@contextlib.contextmanager
def open_client(args: argparse.Namespace, env: Environment) -> Iterator[XfinityUsage]:
    """The run's one client (after ``--app-sign-in`` or ``--app-import`` when asked, or a sign-in
    seeded from ``XFINITY_REFRESH_TOKEN``); the demo's simulated site or app lives as long as the block."""
    from ..client import XfinityUsage
    from ..sources.tokens import default_token_file

    common = client_options(args)
    token_file = getattr(args, "token_file", None) or default_token_file(env.env)
    source = getattr(args, "source", "auto")
    app_sign_in = getattr(args, "app_sign_in", False)
    app_import = getattr(args, "app_import", None)
    if app_sign_in and source == "browser":
        raise ConfigError("--app-sign-in reads with the app's API: leave out --source browser")
    if app_import and (source == "browser" or app_sign_in or args.demo):
        raise ConfigError("--app-import brings a real sign-in for the app's API: it cannot go with "
                          "--source browser, --app-sign-in or --demo")
    if args.demo and (source == "app" or app_sign_in):
        from .app import demo_app_client

        with demo_app_client(args, env, common) as client:
            yield client
        return
    if args.demo:
        import tempfile

        from ..simulator import DEMO_PASSWORD, DEMO_USERNAME, SimulatedSite

        with SimulatedSite() as site, tempfile.TemporaryDirectory(prefix="xfinity-usage-demo-") as tmp:
            cookie_file = args.cookie_file or os.path.join(tmp, "cookies.json")
            yield XfinityUsage(DEMO_USERNAME, DEMO_PASSWORD, cookie_file=cookie_file, urls=site.urls, **common)
        return
    from ..sources.session import default_cookie_file

    urls = site_urls(args.site_urls)
    secret = ""
    if app_sign_in:
        from .app import sign_in_from_cli

        secret = sign_in_from_cli(args, env, token_file, urls)
        source = "app"
    elif app_import:
        from .app import import_from_cli

        secret = import_from_cli(args, env, token_file)
        source = "app"
    elif source != "browser" and ("XFINITY_REFRESH_TOKEN" in env.env or "XFINITY_REFRESH_TOKEN_FILE" in env.env):
        from .app import seed_from_environment

        seed_from_environment(env, token_file, args.timeout)
    user = password = ""
    if XfinityUsage.reads_with_app(source, token_file):  # the client reads with the app: no password needed
        from .app import remember_saved, read_client_secret

        secret = secret or read_client_secret(env.env)
        env.secrets.append(secret)
        remember_saved(env, token_file)
        cookie_file = args.cookie_file or os.path.join(os.path.dirname(token_file), "cookies.json")
    else:
        user, password = read_credentials(env.env)
        env.secrets.extend([password, user])
        cookie_file = args.cookie_file or default_cookie_file(env.env)
    yield XfinityUsage(user, password, cookie_file=cookie_file, urls=urls, source=source, token_file=token_file,
                       client_secret=secret or None, **common)


def check_mode(args: argparse.Namespace) -> bool:
    """True for a Nagios-style check (``--warn``/``--crit``)."""
    return args.warn is not None or args.crit is not None


@contextlib.contextmanager
def hold_account(client: XfinityUsage) -> Iterator[None]:
    """Hold the account's lock for the long-running mode: a second process for the same account is
    refused (:class:`~xfinity_usage.errors.LockedError`); this one's token refresh takes it again."""
    from ..errors import LockedError

    lock = client.account_lock()
    try:
        got = lock.acquire(0)
    except OSError as exc:
        raise ConfigError(f"cannot create the lock file {lock.path}: {exc.strerror or exc}") from None
    if not got:
        holder = lock.holder()
        who = f" (pid {holder})" if holder else ""
        raise LockedError(f"another xfinity-usage --interval process{who} already runs for this "
                          f"account (lock {lock.path})")
    try:
        yield
    finally:
        lock.release()


def settings_of(kind: type, args: argparse.Namespace) -> Any:
    """``kind`` (a settings dataclass) from the parsed options its fields name; a field the parser
    does not know keeps its default."""
    return kind(**{field.name: getattr(args, field.name) for field in dataclasses.fields(kind)
                   if hasattr(args, field.name)})


def open_sinks(args: argparse.Namespace, context: sinks.Context) -> list:
    """The sinks the command line asks for, each built from its own settings; checked
    (ConfigError) but not opened."""
    found = []
    for module in sinks.modules():
        sink = module.build(settings_of(module.Settings, args), context)
        if sink is not None:
            found.append(sink)
    return found


@contextlib.contextmanager
def open_pipeline(args: argparse.Namespace, env: Environment, *,
                  long_running: bool = False) -> Iterator[tuple[Pipeline, Optional[XfinityUsage]]]:
    """``(pipeline, client)`` for the command line, opened (``client`` is None for ``--offline``).

    The sinks are checked before anything starts. A single run opens the history and the sinks
    before the client (so before ``--app-sign-in``); the long-running mode holds the account's lock
    (:func:`hold_account`) before it opens them. The pipeline's ``open_failures`` lists the sinks
    that did not open.
    """
    from ..pipeline import Pipeline

    path = history_path(args, env.env)
    context = sinks.Context(env.env, env.secrets, long_running=long_running, timeout=args.timeout,
                            history=path is not None, history_path=path)
    chosen = open_sinks(args, context)  # ConfigError before anything starts
    pipeline = Pipeline(None, history_path=path, sinks=chosen,
                        want_report=bool(args.report or check_mode(args) or args.offline),
                        history_required=bool(args.report or args.offline))
    with contextlib.ExitStack() as stack:
        if not long_running:  # a history the run needs fails it before any sign-in (--app-sign-in's too)
            stack.enter_context(pipeline)
        client = None if args.offline else stack.enter_context(open_client(args, env))
        if long_running:  # the account first: a second process must not announce itself on MQTT
            if client is not None:
                stack.enter_context(hold_account(client))
            stack.enter_context(pipeline)
        if client is not None:
            pipeline.read = client.read
        yield pipeline, client


__all__ = ["check_mode", "client_options", "history_path", "hold_account", "open_client", "open_pipeline", "open_sinks",
           "read_credentials", "settings_of", "site_urls"]
