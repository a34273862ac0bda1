"""The notification sink: ``--notify URL`` sends one message when the usage state changes.

The state is the Nagios check's (:func:`~xfinity_usage.history.report.check_state`):
OK, WARNING or CRITICAL, judged by ``--warn``/``--crit`` and ``--on``; without
``--warn`` and ``--crit`` by :data:`DEFAULT_WARN` and :data:`DEFAULT_CRIT`.
A message goes out when the state differs from the one last told to that
URL, which is kept in the history database (table ``notify_state``, keyed by
a hash of the URL), so cron runs, single runs and ``--interval`` all send
once per change. A URL told nothing yet gets a message only when the state
is not OK. UNKNOWN (no projection yet) changes nothing. ``--notify`` needs
the history; ``--notify-test`` does not.

Messages go through Apprise (``pip install 'xfinity-usage[notify]'``), which
speaks ntfy, email, Pushover, Telegram, Discord, Slack, JSON and many more;
it is imported only when notifications are asked for. URLs come from the
flag, ``XFINITY_NOTIFY_URLS`` or ``XFINITY_NOTIFY_URLS_FILE``. Each URL and
its secret parts (user, password, token-like host, path, query) are masked
in every message; a URL is shown as its scheme alone (``ntfys://…``).
Apprise's own log records are kept from the run's handlers and passed on as
this module's DEBUG records. A message carries figures only, never a secret.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import re
import urllib.parse
from typing import TYPE_CHECKING, Any, Iterator, List, Mapping, Optional, Sequence, cast

from .. import options
from ..errors import ConfigError, NotifyError

if TYPE_CHECKING:
    from ..history.report import Report
    from ..reading import Reading
    from . import Context

logger = logging.getLogger(__name__)

NAME = "notify"
#: WARNING above this percentage of the cap when neither --warn nor --crit is given.
DEFAULT_WARN = 80.0
#: CRITICAL above this percentage of the cap when neither --warn nor --crit is given.
DEFAULT_CRIT = 95.0
#: Parts of a URL shorter than this are not added to the masked secrets (they would star common words).
SHORTEST_SECRET_PART = 4
#: Words of the tool's own messages, never masked as parts of a URL (a topic named ``xfinity`` is no
#: secret, and starring it would garble every line).
OWN_WORDS = frozenset({"xfinity", "usage", "xfinity-usage", "xfinity_usage", "notify", "webhook", "report"})
#: The title of the ``--notify-test`` message.
TEST_TITLE = "Xfinity usage: test message"

# Separators in XFINITY_NOTIFY_URLS: whitespace, or a comma before the next URL's scheme
# (a comma inside a URL, as in mailto://...?to=a@x.org,b@y.org, stays).
_SEPARATOR = re.compile(r"\s+|,\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")
_HOST = re.compile(r"(localhost|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+|\[[0-9A-Fa-f:.]+\])(:\d+)?")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "notifications", "one message when the state (OK, WARNING, CRITICAL) changes, through Apprise\n"
                         "(ntfy, email, Pushover, Telegram, JSON...); URLs also come from\n"
                         "XFINITY_NOTIFY_URLS or XFINITY_NOTIFY_URLS_FILE, which keep them off the\n"
                         "command line; needs the history; thresholds: --warn/--crit, else "
                         f"{DEFAULT_WARN:g}/{DEFAULT_CRIT:g}")
    group.add_argument("--notify", metavar="URL", action="append", nargs="?", const="",
                       help="send a message to this Apprise URL when the state changes (repeatable); "
                            "--notify alone uses the URLs of XFINITY_NOTIFY_URLS(_FILE)")
    group.add_argument("--notify-test", action="store_true",
                       help="send a test message to every notification URL as the run starts (before "
                            "signing in), and no other message")


def urls_from(flags: Sequence[Optional[str]], env: Mapping[str, str]) -> List[str]:
    """The notification URLs: the flags' and ``XFINITY_NOTIFY_URLS`` (else the file named by
    ``XFINITY_NOTIFY_URLS_FILE``; lines starting with ``#`` are comments), in order, each once."""
    text = options.secret_from_env(env, "XFINITY_NOTIFY_URLS")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    found = [flag.strip() for flag in flags if flag and flag.strip()]
    for line in lines:
        found += [url for url in _SEPARATOR.split(line.strip()) if url]
    return list(dict.fromkeys(found))


def secret_parts(url: str) -> List[str]:
    """The strings of ``url`` to mask: the URL itself, its user and password, and those of its host
    (when it does not look like a host name: Pushover, Telegram and ntfy.sh keep tokens there), path
    parts, query values and fragment that look like tokens; each also URL-decoded.

    A part looks like a token when it has a digit or at least 12 characters; the tool's own words
    (:data:`OWN_WORDS`) are never parts, since starring them would garble every line.
    """
    always, maybe = [url], []
    scheme, sep, rest = url.partition("://")
    if sep:
        rest, _, fragment = rest.partition("#")
        rest, _, query = rest.partition("?")
        netloc, _, path = rest.partition("/")
        userinfo, at, host = netloc.rpartition("@")
        if at:
            user, _, password = userinfo.partition(":")
            always += [userinfo, user, password]
        if not _HOST.fullmatch(host):
            maybe += [host, *host.split(":")]
        maybe += [path, *path.split("/"), query, fragment]
        maybe += [value for _, value in urllib.parse.parse_qsl(query, keep_blank_values=True)]
    parts = always + [part for part in maybe if any(c.isdigit() for c in part) or len(part) >= 12]
    parts += [urllib.parse.unquote(part) for part in parts]
    return [part for part in dict.fromkeys(parts)
            if part == url or (len(part) >= SHORTEST_SECRET_PART and part.lower() not in OWN_WORDS)]


def shown(url: str) -> str:
    """``url`` as messages show it: its scheme alone (``ntfys://…``), since any other part may be a token."""
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://…" if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme) else "a URL"


def key_of(url: str) -> str:
    """The key of ``url``'s row in the history's ``notify_state`` (a hash: the URL is never stored)."""
    import hashlib  # not on every run's path: only when notifications are asked for

    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


@dataclasses.dataclass(frozen=True)
class Settings:
    """The notification options, and the check's thresholds they share (``--warn``, ``--crit``, ``--on``)."""

    notify: Optional[Sequence[Optional[str]]] = None
    notify_test: bool = False
    warn: Optional[float] = None
    crit: Optional[float] = None
    on: str = "projected"


def build(settings: Settings, context: Context) -> Optional[NotifySink]:
    """The sink ``settings`` ask for (None without ``--notify`` or ``--notify-test``); more URLs
    from ``context.env``; ConfigError without a URL, or without a history to keep the state in."""
    flags = settings.notify or []
    test = settings.notify_test
    if not flags and not test:
        return None
    urls = urls_from(flags, context.env)
    for url in urls:  # before anything can log or fail
        context.secrets.extend(secret_parts(url))
    if not urls:
        raise ConfigError("no notification URL: give --notify URL, or set XFINITY_NOTIFY_URLS or "
                          "XFINITY_NOTIFY_URLS_FILE")
    if not test and context.history_path is None:
        raise ConfigError("--notify keeps the state it last told in the history database, so that each change "
                          "is told once: it cannot go with --no-history, nor with --demo without --history-db")
    warn, crit = settings.warn, settings.crit
    if warn is None and crit is None:
        warn, crit = DEFAULT_WARN, DEFAULT_CRIT
    return NotifySink(urls, warn=warn, crit=crit, on=settings.on,
                      history_path=context.history_path, test=test, timeout=context.timeout)


# ---------------------------------------------------------------- the message


def _num(value: float) -> str:
    """812, 41.4: whole units from 100 up, one decimal below (as the report writes them)."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"


def thresholds_text(warn: Optional[float], crit: Optional[float], on: str) -> str:
    """``Judged on the projected usage: WARNING above 80%, CRITICAL above 95% of the cap``."""
    limits = [f"{name} above {value:g}%" for name, value in (("WARNING", warn), ("CRITICAL", crit))
              if value is not None]
    return f"Judged on the {on} usage: {', '.join(limits)} of the cap"


def title(state: str, report: Report) -> str:
    """``Xfinity usage WARNING: 1010 of 1229 GB (82%)``."""
    used, total, units = cast(float, report.used), report.total, report.units or ""  # UNKNOWN has no message
    if total:
        return f"Xfinity usage {state}: {_num(used)} of {_num(total)} {units} ({used / total * 100:.0f}%)"
    return f"Xfinity usage {state}: {_num(used)} {units} (unlimited plan)"


def message_body(report: Report, warn: Optional[float], crit: Optional[float], on: str) -> str:
    """The message's lines: used of the cap, the projection, the projected overage charge, the days
    left and the cycle's end, and what the state is judged by. Figures only, never a secret."""
    from ..history.overage import format_money

    used, total, units = cast(float, report.used), report.total, report.units or ""  # UNKNOWN has no message
    lines = []
    if total:
        left = total - used
        rest = f"{_num(left)} {units} left" if left >= 0 else f"{_num(-left)} {units} over the cap"
        lines.append(f"Used {_num(used)} of {_num(total)} {units} ({used / total * 100:.1f}%), {rest}")
    else:
        lines.append(f"Used {_num(used)} {units} (unlimited plan)")
    projected = report.projected
    if projected is None:
        lines.append("No projection yet")
    elif total:
        lines.append(f"Projected {_num(projected)} {units} at the end of the cycle ({projected / total * 100:.0f}% "
                     "of the cap)")
    else:
        lines.append(f"Projected {_num(projected)} {units} at the end of the cycle")
    overage = report.overage
    if overage is not None:
        charge = report.charges[1]
        if charge is None:
            lines.append("Projected overage charge: not known")
        elif charge == 0 and overage.courtesy_applies:
            left_credits = overage.terms.courtesy_remaining
            credit = f"courtesy credit left: {left_credits}" if left_credits else "a courtesy credit covers this cycle"
            lines.append(f"Projected overage charge: $0, {credit}")
        else:
            lines.append(f"Projected overage charge: {format_money(charge)}")
    if report.days_left is not None:
        lines.append(f"{report.days_left:.1f} days left; the cycle ends on {report.cycle_end}")
    lines.append(thresholds_text(warn, crit, on))
    return "\n".join(lines)


def test_body(warn: Optional[float], crit: Optional[float], on: str) -> str:
    """The ``--notify-test`` message."""
    return ("This is a test message from xfinity-usage: notifications reach you here.\n"
            "A message comes when the usage state changes (OK, WARNING, CRITICAL).\n"
            + thresholds_text(warn, crit, on))


# ---------------------------------------------------------------- sending


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _apprise_logs() -> Iterator[List[logging.LogRecord]]:
    """Keep Apprise's log records from the run's handlers for the block (its warnings would be lines of
    their own on stderr); yields them (the reason of a failure), then passes them on at DEBUG."""
    source = logging.getLogger("apprise")
    handler = _Collect()
    propagate = source.propagate
    source.addHandler(handler)
    source.propagate = False
    try:
        yield handler.records
    finally:
        source.removeHandler(handler)
        source.propagate = propagate
        for record in handler.records:
            logger.debug("apprise: %s: %s", record.levelname.lower(), record.getMessage())


def _reason(records: Sequence[logging.LogRecord]) -> str:
    warnings = [r for r in records if r.levelno >= logging.WARNING]
    if not warnings:
        return "Apprise reported a failure"
    return " ".join(warnings[-1].getMessage().split()).rstrip(".")


class NotifySink:
    """Tells each URL of ``urls`` the state when it changes (see the module), keeping what it told in
    the history database at ``history_path`` (None: the default one); with ``test``, sends the test
    message on :meth:`open` and nothing else. Raises ConfigError for a URL Apprise does not know."""

    name = NAME
    wants_report = True

    def __init__(self, urls: Sequence[str], *, warn: Optional[float] = DEFAULT_WARN,
                 crit: Optional[float] = DEFAULT_CRIT, on: str = "projected",
                 history_path: Optional[str] = None, test: bool = False, timeout: float = 180.0):
        self.urls = list(urls)
        self.warn, self.crit, self.on = warn, crit, on
        self.history_path = history_path
        self.test = test
        self.timeout = timeout
        self._targets = []
        with _apprise_logs():  # from its import on
            try:
                import apprise
            except ImportError:
                raise ConfigError("--notify needs Apprise: pip install 'xfinity-usage[notify]'") from None
            self._apprise = apprise
            asset = apprise.AppriseAsset(app_id="xfinity-usage", app_desc="Xfinity data usage")
            for url in self.urls:
                target = apprise.Apprise(asset=asset)
                if not target.add(url):
                    raise ConfigError(f"{self._where(url)} is not a notification URL Apprise knows "
                                      "(see https://github.com/caronc/apprise/wiki)")
                self._targets.append(target)
        self._store: Any = None

    def _where(self, url: str) -> str:
        if len(self.urls) == 1:
            return shown(url)
        return f"{shown(url)} (URL {self.urls.index(url) + 1} of {len(self.urls)})"

    def _send(self, index: int, heading: str, text: str, kind: str) -> None:
        notify_type = getattr(self._apprise.NotifyType, kind)
        with _apprise_logs() as records:
            try:
                sent = bool(self._targets[index].notify(body=text, title=heading, notify_type=notify_type))
            except Exception as exc:  # noqa: BLE001 - a plugin's bug must not stop the other sinks
                records.append(logging.makeLogRecord({"levelno": logging.ERROR, "levelname": "ERROR",
                                                      "msg": f"{type(exc).__name__}: {exc}"}))
                sent = False
        if not sent:
            raise NotifyError(f"cannot send to {self._where(self.urls[index])}: {_reason(records)}")

    def open(self) -> None:
        if not self.test:
            return
        errors = []
        for index, url in enumerate(self.urls):
            try:
                self._send(index, TEST_TITLE, test_body(self.warn, self.crit, self.on), "INFO")
                logger.info("sent the test message to %s", self._where(url))
            except NotifyError as exc:
                errors.append(str(exc))
        if errors:
            raise NotifyError("the test message was not sent: " + "; ".join(errors))

    def _history(self) -> Any:
        if self._store is None:
            from ..history.store import HistoryStore

            self._store = HistoryStore(self.history_path)
        return self._store

    def publish(self, reading: Reading, report: Optional[Report]) -> None:
        from ..history.report import State, check_state

        if self.test:
            return
        state, status = check_state(report, self.warn, self.crit, self.on)
        if state is State.UNKNOWN:
            logger.info("notify: the state is UNKNOWN (%s): nothing told", status.split(" - ", 1)[-1])
            return
        assert report is not None  # check_state gives UNKNOWN without a figure
        store = self._history()
        kind = {State.OK: "SUCCESS", State.WARNING: "WARNING", State.CRITICAL: "FAILURE"}[state]
        heading, text = title(state.name, report), message_body(report, self.warn, self.crit, self.on)
        errors = []
        with self._telling(store.path):  # runs at once (cron and a loop) tell a change once
            for index, url in enumerate(self.urls):
                key = key_of(url)
                told = store.notify_state(key)
                if told is not None and told[0] == state.name:
                    continue
                if told is None and state is State.OK:  # a first run tells nothing while all is well
                    store.set_notify_state(key, state.name, reading.data_timestamp)
                    continue
                try:
                    self._send(index, heading, text, kind)
                except NotifyError as exc:  # the state stays untold: the next run tries again
                    errors.append(str(exc))
                    continue
                store.set_notify_state(key, state.name, reading.data_timestamp)
                logger.info("told %s: %s", self._where(url), heading)
        if errors:
            raise NotifyError(f"the {state.name} message was not sent: " + "; ".join(errors))

    @contextlib.contextmanager
    def _telling(self, history_path: str) -> Iterator[None]:
        """Hold ``<history>.notify.lock`` while the told states are read, sent and written, so that
        another run at the same time reads what this one told (within ``timeout``)."""
        from ..locks import file_lock

        lock = file_lock(history_path + ".notify.lock")
        try:
            got = lock.acquire(self.timeout)
        except OSError as exc:
            raise NotifyError(f"cannot create the lock file {lock.path}: {exc.strerror or exc}") from None
        if not got:
            raise NotifyError(f"another run held {lock.path} until the time ran out: nothing was told")
        try:
            yield
        finally:
            lock.release()

    def failed(self, error: Exception) -> None:
        pass

    def close(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            store.close()
