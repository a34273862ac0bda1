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
import time
from typing import IO, TYPE_CHECKING, Mapping, Optional, Sequence

from .browsers import BROWSERS, DEFAULT_BROWSER  # light: Selenium is imported only to start one
from . import options
from .errors import ConfigError, ExitCode, XfinityUsageError
from .secrets import mask
from .version import __version__

if TYPE_CHECKING:  # these load dateutil and sqlite3: keep --version cheap
    from .history import HistoryStore
    from .reading import Reading

logger = logging.getLogger(__name__)

PROG = "xfinity-usage"

EPILOG = """\
environment:
  XFINITY_USER            the Xfinity ID (username)
  XFINITY_PASSWORD        its password
  XFINITY_PASSWORD_FILE   a file holding the password (used when XFINITY_PASSWORD is unset)
  XFINITY_CLIENT_SECRET   the Xfinity app's client secret (--app-sign-in; kept in the token file)
  XFINITY_CLIENT_SECRET_FILE  a file holding it (used when XFINITY_CLIENT_SECRET is unset)
  MQTT_PASSWORD           the MQTT broker's password (with --mqtt-user)
  MQTT_PASSWORD_FILE      a file holding it (used when MQTT_PASSWORD is unset)

exit codes:
""" + "\n".join(f"  {code.value:<3} {code.name.lower().replace('_', ' ')}" for code in ExitCode) + """

exit codes with --warn/--crit (Nagios plugin states):
  0   OK        1   WARNING   2   CRITICAL
  3   UNKNOWN   any failure to get a figure, and any bad option or value"""


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The argument parser (also used to generate the CLI reference)."""
    p = argparse.ArgumentParser(
        prog=prog, description="Print this month's Xfinity internet data usage, read with a real browser.",
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
    p.add_argument("-g", "--graphite", action="store_true", help="send the reading to Graphite")
    p.add_argument("-H", "--graphite-host", default="127.0.0.1", help="Graphite host (default: 127.0.0.1)")
    p.add_argument("-P", "--graphite-port", type=options.port, default=2003, help="Graphite plaintext port (default: 2003)")
    p.add_argument("-p", "--graphite-prefix", default="xfinity", help="Graphite metric prefix (default: xfinity)")
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
    hist.add_argument("--graphite-extra", action="store_true",
                      help="also send the projection and per-device usage to Graphite")
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
    run.add_argument("--driver-path", metavar="PATH", help="the WebDriver executable, if not on PATH")
    run.add_argument("--browser-path", metavar="PATH", help="the browser executable, if not the default")
    from . import sinks  # MQTT, Prometheus and --interval: their own modules

    sinks.add_arguments(p)
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


def read_credentials(env: Mapping[str, str]) -> tuple[str, str]:
    """The username and password from the environment (or the password file)."""
    user = env.get("XFINITY_USER", "")
    password = options.secret_from_env(env, "XFINITY_PASSWORD")
    if not user:
        raise ConfigError("XFINITY_USER is not set; export your Xfinity ID as XFINITY_USER")
    if not password:
        raise ConfigError("XFINITY_PASSWORD (or XFINITY_PASSWORD_FILE) is not set; export your password")
    return user, password


class Environment:
    """What a run reads and writes outside itself; tests pass their own (httpie's pattern)."""

    def __init__(self, env: Optional[Mapping[str, str]] = None, stdout: Optional[IO[str]] = None,
                 stderr: Optional[IO[str]] = None, stdin: Optional[IO[str]] = None):
        self.env = dict(os.environ if env is None else env)
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.stdin = stdin or sys.stdin
        #: Strings masked in every log line and error message (filled in as they become known).
        self.secrets: list[str] = []


def _fetch(args: argparse.Namespace, env: Environment) -> Reading:
    from .runs import open_reader

    with open_reader(args, env) as (read, _lock):
        return read()


def _site_urls(path: Optional[str]) -> Optional[dict]:
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


def _push(args: argparse.Namespace, reading: Reading, report: Optional[dict]) -> None:
    from .graphite import GraphiteClient

    extra = None
    if args.graphite_extra and report is not None:
        unit = (report.get("units") or reading.units).lower()
        extra = {f"device.{d['id']}_{unit}": d["usage"] for d in report.get("devices", [])
                 if d.get("usage") is not None}
        if report.get("projected") is not None:
            extra[f"projected_{unit}"] = report["projected"]
    GraphiteClient(args.graphite_host, args.graphite_port, args.graphite_prefix).send_reading(reading, extra=extra)
    logger.info("sent the reading to Graphite at %s:%d", args.graphite_host, args.graphite_port)


def _open_history(args: argparse.Namespace, env: Environment) -> Optional[HistoryStore]:
    """The history store, opened before any sign-in; None when this run keeps no history.

    A history that cannot be opened fails the run at once when the run
    needs it (``--report``, ``--offline``), and is a warning otherwise.
    """
    from .history import HistoryError, HistoryStore, default_history_path

    if args.no_history or (args.demo and not args.history_db):  # demo readings stay out of real history
        if args.offline:
            raise ConfigError("--offline reports from the history: it cannot go with --no-history, "
                              "nor with --demo without --history-db")
        return None
    try:
        return HistoryStore(args.history_db or default_history_path(env.env))
    except HistoryError as exc:
        if args.report or args.offline:
            raise
        logger.warning("history not recorded: %s", exc)
        return None


def _record_and_report(args: argparse.Namespace, store: Optional[HistoryStore],
                       reading: Optional[Reading]) -> Optional[dict]:
    """Record the reading; build the report when something needs it."""
    from .history import HistoryError
    from .report import build_report

    if store is not None and reading is not None:
        try:
            store.record(reading)
        except HistoryError as exc:
            if args.report:
                raise
            logger.warning("history not recorded: %s", exc)
            store = None
    if not (args.report or _check_mode(args) or args.graphite_extra or args.offline):
        return None
    report = build_report(store if store is not None else [], reading)
    if args.offline and report.get("as_of") is not None:
        age = _age(time.time() - report["as_of"])
        report["notes"].insert(0, f"offline: from the history alone; the newest reading is {age} old")
    return report


def _age(seconds: float) -> str:
    minutes = max(0, int(seconds // 60))
    if minutes < 120:
        return "1 minute" if minutes == 1 else f"{minutes} minutes"
    hours = minutes // 60
    return f"{hours} hours" if hours < 48 else f"{hours // 24} days"


def _check_mode(args: argparse.Namespace) -> bool:
    return args.warn is not None or args.crit is not None


def run(args: argparse.Namespace, env: Environment) -> int:
    """Fetch, record, print and push; return the exit code. Library errors propagate."""
    if args.offline and not (args.report or _check_mode(args)):
        raise ConfigError("--offline needs --report or --warn/--crit")
    from . import sinks

    looped = sinks.start(args, env)  # checks the sink options; runs --interval to its end
    if looped is not None:
        return looped
    store = _open_history(args, env)
    try:
        try:
            reading = None if args.offline else _fetch(args, env)
        except XfinityUsageError:
            sinks.failed_once(args)  # the textfile says up 0, so an alert can fire
            raise
        report = _record_and_report(args, store, reading)
    finally:
        if store is not None:
            store.close()
    code, text = _output(args, reading, report)
    env.stdout.write(text + "\n")
    env.stdout.flush()
    if args.graphite and reading is not None:
        _push(args, reading, report)
    if reading is not None and sinks.wanted(args):
        sinks.publish_once(args, env, reading, report)
    return code


def _output(args: argparse.Namespace, reading: Optional[Reading], report: Optional[dict]) -> tuple[int, str]:
    """The exit code and what goes to stdout."""
    from .report import check_state, render_text
    from .usage import format_reading

    if _check_mode(args):
        state, line = check_state(report or {}, args.warn, args.crit, args.on)
        if args.json:  # one JSON document, so a parser gets it whole
            document = {"state": state.name, "exit_code": int(state), "status": line,
                        "reading": reading.to_dict() if reading else None, "report": report}
            return int(state), json.dumps(document, indent=2, sort_keys=True)
        if args.report:
            return int(state), line + "\n" + render_text(report or {}).rstrip("\n")
        return int(state), line
    if args.report and args.json:
        return ExitCode.OK, json.dumps(report, indent=2, sort_keys=True)
    if args.report:
        return ExitCode.OK, render_text(report or {}).rstrip("\n")
    if reading is None:  # only --offline runs have none, and they report
        raise ConfigError("--offline needs --report or --warn/--crit")
    if args.json:
        return ExitCode.OK, json.dumps(reading.to_dict(), indent=2, sort_keys=True)
    return ExitCode.OK, format_reading(reading)


def _check_requested(argv: Sequence[str]) -> bool:
    """True when the command line asks for check mode (known before it parses)."""
    return any(arg.startswith(("--warn", "--crit")) for arg in argv)


def _usage_error_in_check_mode(env: Environment, prog: str, message: str) -> int:
    """A usage error in check mode: Nagios must read UNKNOWN (3), not CRITICAL (2)."""
    from .report import unknown_status

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
        return int(run(args, env))
    except XfinityUsageError as exc:
        if args.verbose >= 2:
            logger.debug("traceback", exc_info=True)
        message = mask(f"{exc.label}: {exc}{_hint(exc, env)}", secrets)
        env.stderr.write(f"{prog}: {message}\n")
        if _check_mode(args):  # monitoring: any failure to get data is UNKNOWN
            from .report import unknown_status

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
    from .errors import BadCredentialsError

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
