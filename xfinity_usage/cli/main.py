"""The ``xfinity-usage`` and ``xfinity-usage-graphite`` commands.

Parses arguments, sets up logging, runs the library and turns each
exception into one line on stderr and a documented exit code
(:class:`xfinity_usage.errors.ExitCode`). Heavy modules (Selenium, the
browser code) are imported only when a run needs them.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
from typing import IO, TYPE_CHECKING, Optional, Sequence

from .. import options
from ..options import BROWSERS, DEFAULT_BROWSER
from .environment import Environment
from ..errors import ConfigError, ExitCode, XfinityUsageError
from .runs import check_mode
from ..secrets import mask
from ..version import __version__

if TYPE_CHECKING:  # these load dateutil and sqlite3: keep --version cheap
    from ..history.report import Report
    from ..pipeline import Outcome
    from ..reading import Reading

logger = logging.getLogger(__name__)

PROG = "xfinity-usage"

EPILOG = """\
environment:
  XFINITY_USER            the Xfinity ID (username)
  XFINITY_PASSWORD        its password
  XFINITY_PASSWORD_FILE   a file holding the password (used when XFINITY_PASSWORD is unset)
  XFINITY_CLIENT_SECRET   the Xfinity app's client secret (--app-sign-in; kept in the token file)
  XFINITY_CLIENT_SECRET_FILE  a file holding it (used when XFINITY_CLIENT_SECRET is unset)
  XFINITY_REFRESH_TOKEN   an app refresh token from another tool: saved as the app sign-in when
                          none is saved yet (with XFINITY_CLIENT_SECRET)
  XFINITY_REFRESH_TOKEN_FILE  a file holding it (used when XFINITY_REFRESH_TOKEN is unset)
  MQTT_PASSWORD           the MQTT broker's password (with --mqtt-user)
  MQTT_PASSWORD_FILE      a file holding it (used when MQTT_PASSWORD is unset)
  WEBHOOK_TOKEN           a bearer token for --webhook
  WEBHOOK_TOKEN_FILE      a file holding it (used when WEBHOOK_TOKEN is unset)
  XFINITY_NOTIFY_URLS     Apprise URLs for --notify, added to its own (spaces or commas between)
  XFINITY_NOTIFY_URLS_FILE  a file holding them, one a line (used when XFINITY_NOTIFY_URLS is unset)

exit codes:
""" + "\n".join(f"  {code.value:<3} {code.name.lower().replace('_', ' ')}" for code in ExitCode) + """

a sink that fails (Graphite, MQTT, Prometheus, webhook, notify) is one line on stderr; the others
are still fed, and the exit code is the first failing sink's (9, 11, 13, 15, 16).

exit codes with --warn/--crit (Nagios plugin states):
  0   OK        1   WARNING   2   CRITICAL
  3   UNKNOWN   any failure to get a figure, and any bad option or value
  (a failing sink is a line on stderr: the exit code stays the state)"""


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The argument parser (also used to generate the CLI reference)."""
    p = argparse.ArgumentParser(
        prog=prog, description=(
            "Print this month's Xfinity internet data usage, read through the Xfinity app's API\n"
            "(--source app) or with a real browser; keep its history, check it against the cap,\n"
            "and feed Graphite, MQTT/Home Assistant, Prometheus, a webhook or notifications,\n"
            "once or every --interval."),
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="-v: progress (INFO), and a screenshot and the HTML of a failing page in "
                        "./xfinity-usage-debug (or --debug-dir); -vv: also DEBUG logs and tracebacks")
    p.add_argument("-c", "--cookie-file", default=None,
                   help="file keeping the session cookies between runs (default: "
                        "$XDG_CACHE_HOME/xfinity-usage/cookies.json)")
    p.add_argument("-b", "--browser", choices=BROWSERS, default=DEFAULT_BROWSER, metavar="BROWSER",
                   help=f"{DEFAULT_BROWSER} (the default), firefox, chrome-headless, chrome, "
                        "or phantomjs (deprecated)")
    p.add_argument("-j", "--json", action="store_true", help="print the full reading as JSON")
    from .. import sinks  # light: each sink's library loads only when it is used

    sinks.add_arguments(p)  # 3.0.4's -g -H -P -p first, then each sink's group
    hist = p.add_argument_group("history, report and alerts")
    hist.add_argument("--history-db", metavar="PATH", default=None,
                      help="SQLite file of past readings (default: $XDG_DATA_HOME/xfinity-usage/history.sqlite3)")
    hist.add_argument("--no-history", action="store_true", help="do not record this reading")
    hist.add_argument("--report", action="store_true",
                      help="print the cycle report: per-day usage, rates, projection, budget, devices "
                           "(with -j: as JSON)")
    hist.add_argument("--warn", type=options.percent, metavar="PCT",
                      help="Nagios-style check: WARNING (exit 1) above PCT percent of the cap")
    hist.add_argument("--crit", type=options.percent, metavar="PCT",
                      help="Nagios-style check: CRITICAL (exit 2) above PCT percent of the cap")
    hist.add_argument("--on", choices=("projected", "used"), default="projected",
                      help="what --warn/--crit compare: the projected end-of-cycle usage (default) or the "
                           "current figure")
    hist.add_argument("--offline", action="store_true",
                      help="--report or --warn/--crit from the history alone: no sign-in, no credentials")
    run = p.add_argument_group("run control")
    run.add_argument("--demo", action="store_true",
                     help="run against the built-in simulated Xfinity site (no account needed)")
    run.add_argument("--timeout", type=options.positive, default=180.0, metavar="SECONDS",
                     help="give up after this many seconds (default: 180)")
    run.add_argument("--retries", type=options.count, default=3, metavar="N",
                     help="retries of a failing step (default: 3)")
    run.add_argument("--fresh-login", action="store_true",
                     help="ignore the saved session and log in with the browser")
    run.add_argument("--force", action="store_true",
                     help="run even during the cool-down after an Access Denied answer")
    run.add_argument("--debug-dir", metavar="DIR",
                     help="save a screenshot and the HTML of a failing page here (mode 0600)")
    run.add_argument("--site-urls", metavar="FILE",
                     help="JSON file overriding the site's URLs (HOME_URL, LOGIN_URL, USAGE_JSON_URL, "
                          "SC_USAGE_JSON_URL, LEGACY_USAGE_JSON_URL, USAGE_PAGE_URL, ACCOUNT_URL, "
                          "BILLING_CONTEXT_URL), e.g. to use a simulated site")
    app = p.add_argument_group("the Xfinity app's route (no browser after a one-time sign-in)")
    app.add_argument("--source", choices=("auto", "app", "browser"), default="auto",
                     help="auto (default): the app's API when the token file exists, else the saved "
                          "session and then the browser; app; browser")
    app.add_argument("--token-file", metavar="PATH", default=None,
                     help="the app sign-in's tokens (default: $XDG_CONFIG_HOME/xfinity-usage/app-token.json)")
    app.add_argument("--app-sign-in", action="store_true",
                     help="sign in the way the Xfinity app does, save the tokens, then read the usage; with "
                          "-b chrome or -b firefox the sign-in happens in that window, else paste the final "
                          "address")
    app.add_argument("--app-import", metavar="FILE",
                     help="take the sign-in of the Xfinity Android app from its shared_prefs/"
                          "ACCESS_TOKEN_STORE.xml (the refresh token and client secret), save it in the "
                          "token file, then read the usage")
    run.add_argument("--driver-path", metavar="PATH", help="the WebDriver executable, if not on PATH")
    run.add_argument("--browser-path", metavar="PATH", help="the browser executable, if not the default")
    group = p.add_argument_group("long-running mode")
    group.add_argument("--interval", type=options.positive, metavar="SECONDS",
                       help="keep running: read every SECONDS (±10%% jitter) and feed every sink; one line "
                            f"per run; SIGTERM/SIGINT stop it (at least {options.MIN_INTERVAL:g} s against "
                            "the real site)")
    return p


class MaskingFormatter(logging.Formatter):
    """Formats records with the secrets replaced by stars (Selenium logs request bodies at DEBUG).

    Below ``-vv`` a record reads as a sentence: its message alone, and
    warnings as ``<prog>: warning: ...``; ``-vv`` adds the time, level and logger.
    """

    def __init__(self, fmt: str, secrets: Sequence[str], prog: Optional[str] = None):
        super().__init__(fmt)
        self.secrets = secrets  # the caller's list: secrets learnt later are masked too
        self.prog = prog

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if self.prog is not None and record.levelno >= logging.WARNING:
            text = f"{self.prog}: {record.levelname.lower()}: {text}"
        return mask(text, self.secrets)


class ProgressHandler(logging.Handler):
    """One transient line on a terminal ("signing in…"), for records marked ``progress``.

    The line is overwritten by the next step and erased by :meth:`clear`.
    """

    def __init__(self, stream: IO[str]):
        super().__init__(logging.INFO)
        self.stream = stream
        self.shown = False

    def emit(self, record: logging.LogRecord) -> None:
        if not getattr(record, "progress", False):
            return
        try:
            self.stream.write(f"\r\033[K{record.getMessage()}\u2026")
            self.stream.flush()
            self.shown = True
        except (OSError, ValueError):
            pass

    def clear(self) -> None:
        if self.shown:
            with contextlib.suppress(OSError, ValueError):
                self.stream.write("\r\033[K")
                self.stream.flush()
            self.shown = False


def setup_logging(verbosity: int, stream: IO[str], secrets: Sequence[str],
                  prog: str = PROG) -> list[logging.Handler]:
    """Send log records to ``stream`` at WARNING, INFO (-v) or DEBUG (-vv); returns the handlers added.

    Without ``-v``, on a terminal, steps show as one transient progress line.
    """
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(stream)
    if verbosity >= 2:
        handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets))
    else:
        handler.setFormatter(MaskingFormatter("%(message)s", secrets, prog))
    handler.setLevel(level)
    handlers: list[logging.Handler] = [handler]
    if verbosity <= 0 and _is_tty(stream):
        handlers.append(ProgressHandler(stream))
    root = logging.getLogger()
    for added in handlers:
        root.addHandler(added)
    root.setLevel(min(level, logging.INFO) if len(handlers) > 1 else level)
    chatty = logging.NOTSET if verbosity >= 3 else logging.INFO if verbosity == 2 else logging.ERROR
    for name in ("urllib3", "selenium"):  # their retries and requests are ours to report, at -vvv
        logging.getLogger(name).setLevel(chatty)
    return handlers


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _remove_logging(handlers: list[logging.Handler]) -> None:
    root = logging.getLogger()
    for handler in handlers:
        if isinstance(handler, ProgressHandler):
            handler.clear()
        root.removeHandler(handler)


def run(args: argparse.Namespace, env: Environment, prog: str = PROG) -> int:
    """One run of the pipeline (or the ``--interval`` loop); returns the exit code.

    The output goes to stdout before any sink is fed; each sink that fails
    is one line on stderr, and the exit code is the first failing sink's
    (in check mode the state's). Library errors propagate.
    """
    if args.offline and not (args.report or check_mode(args)):
        raise ConfigError("--offline needs --report or --warn/--crit")
    if args.interval:
        from .loop import run_loop

        return run_loop(args, env, say=lambda line: _say(env, prog, line))
    from .runs import open_pipeline

    codes = []

    def show(outcome: Outcome) -> None:
        code, text = _output(args, outcome.reading, outcome.report)
        env.stdout.write(text + "\n")
        env.stdout.flush()
        codes.append(code)

    with open_pipeline(args, env) as (pipeline, _client):
        outcome = pipeline.run(before_sinks=show)
    failures = pipeline.open_failures + outcome.failures
    for failure in failures:
        _say(env, prog, failure.line)
    if failures and not check_mode(args):
        return int(failures[0].error.exit_code)
    return codes[0]


def _say(env: Environment, prog: str, line: str) -> None:
    """One line on stderr, secrets masked."""
    env.stderr.write(mask(f"{prog}: {line}", env.secrets) + "\n")
    env.stderr.flush()


def _output(args: argparse.Namespace, reading: Optional[Reading], report: Optional[Report]) -> tuple[int, str]:
    """The exit code and what goes to stdout."""
    from ..sources.usage import format_reading

    if check_mode(args):
        from ..history.report import check_state  # only here: a plain run needs no report module

        state, line = check_state(report, args.warn, args.crit, args.on)
        if args.json:  # one JSON document, so a parser gets it whole
            document = {"state": state.name, "exit_code": int(state), "status": line,
                        "reading": reading.to_dict() if reading else None,
                        "report": report.to_dict() if report is not None else None}
            return int(state), json.dumps(document, indent=2, sort_keys=True)
        if args.report:
            return int(state), line + "\n" + _text(report)
        return int(state), line
    if args.report and args.json:
        return ExitCode.OK, json.dumps(report.to_dict() if report is not None else None, indent=2, sort_keys=True)
    if args.report:
        return ExitCode.OK, _text(report)
    if reading is None:  # only --offline runs have none, and they report
        raise ConfigError("--offline needs --report or --warn/--crit")
    if args.json:
        return ExitCode.OK, json.dumps(reading.to_dict(), indent=2, sort_keys=True)
    return ExitCode.OK, format_reading(reading)


def _text(report: Optional[Report]) -> str:
    """The report as text, without its last newline (--report always builds one)."""
    from ..history.report import render_text

    return render_text(report).rstrip("\n") if report is not None else "Xfinity data usage: no figures"


def _check_requested(argv: Sequence[str]) -> bool:
    """True when the command line asks for check mode (known before it parses)."""
    return any(arg.startswith(("--warn", "--crit")) for arg in argv)


def _usage_error_in_check_mode(env: Environment, prog: str, message: str) -> int:
    """A usage error in check mode: Nagios must read UNKNOWN (3), not CRITICAL (2)."""
    from ..history.report import unknown_status

    env.stderr.write(f"{prog}: configuration: {message}\n")
    state, line = unknown_status(f"{prog}: {message}")
    env.stdout.write(line + "\n")
    return int(state)


def main(argv: Optional[Sequence[str]] = None, env: Optional[Environment] = None,
         prog: str = PROG, graphite: bool = False) -> int:
    """Entry point of ``xfinity-usage``; returns the exit code."""
    env = env or Environment()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(prog)
    usage_errors = io.StringIO()
    try:
        with contextlib.redirect_stdout(env.stdout), contextlib.redirect_stderr(usage_errors):
            args = parser.parse_args(argv)
    except SystemExit as exc:  # -h, -V and usage errors
        text = usage_errors.getvalue()
        if exc.code and _check_requested(argv):
            return _usage_error_in_check_mode(env, prog, text.strip().splitlines()[-1].split(": error: ")[-1])
        env.stderr.write(text)
        return int(exc.code or 0)
    args.graphite = args.graphite or graphite
    if args.warn is not None and args.crit is not None and args.warn > args.crit:
        message = f"--warn ({args.warn:g}) must not exceed --crit ({args.crit:g})"
        return _usage_error_in_check_mode(env, prog, message)
    secrets = env.secrets
    secrets.append(env.env.get("XFINITY_PASSWORD", ""))
    secrets.append(env.env.get("XFINITY_CLIENT_SECRET", ""))
    handlers = setup_logging(args.verbose, env.stderr, secrets, prog)
    try:
        return int(run(args, env, prog))
    except XfinityUsageError as exc:
        if args.verbose >= 2:
            logger.debug("traceback", exc_info=True)
        message = mask(f"{exc.label}: {exc}{_hint(exc, env)}", secrets)
        env.stderr.write(f"{prog}: {message}\n")
        if check_mode(args):  # monitoring: any failure to get data is UNKNOWN
            from ..history.report import unknown_status

            state, line = unknown_status(message)
            env.stdout.write(line + "\n")
            return int(state)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        env.stderr.write(f"{prog}: interrupted\n")
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:  # the reader went away (| head, | true): nothing to say, as Unix tools do
        return int(ExitCode.CLOSED_PIPE)
    except Exception as exc:  # noqa: BLE001 - last resort: one line, traceback with -vv
        if args.verbose >= 2:
            logger.debug("traceback", exc_info=True)
        env.stderr.write(mask(f"{prog}: unexpected error: {exc.__class__.__name__}: {exc} "
                              "(run with -vv for the traceback and report it)", secrets) + "\n")
        return int(ExitCode.ERROR)
    finally:
        _remove_logging(handlers)


def _hint(exc: XfinityUsageError, env: Environment) -> str:
    """What the user should check, naming where the credentials really came from."""
    from ..errors import BadCredentialsError

    if not isinstance(exc, BadCredentialsError):
        return ""
    if env.env.get("XFINITY_PASSWORD"):
        source = "XFINITY_PASSWORD"
    elif env.env.get("XFINITY_PASSWORD_FILE"):
        source = f"the file in XFINITY_PASSWORD_FILE ({env.env['XFINITY_PASSWORD_FILE']})"
    else:
        return ""
    return f"; check XFINITY_USER and {source}"


def main_graphite(argv: Optional[Sequence[str]] = None, env: Optional[Environment] = None) -> int:
    """Entry point of ``xfinity-usage-graphite``: a run that always pushes to Graphite."""
    return main(argv, env, prog="xfinity-usage-graphite", graphite=True)


def _interrupt_on_sigterm() -> None:
    """Treat SIGTERM (cron, container stop) like Ctrl-C, so the browser is shut down."""
    import signal

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _exit(code: int) -> None:
    if code == ExitCode.CLOSED_PIPE:  # keep Python's exit-time flush of stdout quiet too
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    sys.exit(code)


def console_main() -> None:
    """``xfinity-usage`` console script."""
    _interrupt_on_sigterm()
    _exit(main())


def console_main_graphite() -> None:
    """``xfinity-usage-graphite`` console script."""
    _interrupt_on_sigterm()
    _exit(main_graphite())
