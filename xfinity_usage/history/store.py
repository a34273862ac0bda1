"""The usage history: every reading kept in a small SQLite database.

The database lives at :func:`default_history_path` unless told otherwise.
It is created 0600 (its directory 0700), runs in WAL mode with a busy
timeout, and stores each reading in one ``BEGIN IMMEDIATE`` transaction, so
overlapping cron runs neither lose a reading nor corrupt the file. The
schema is versioned (``PRAGMA user_version``) and migrates forward on open.

Everything read back is plain data: :class:`~xfinity_usage.reading.Reading`
(``source`` ``"history"``, no ``raw``) and :class:`MonthlyTotal`, dates as
:class:`datetime.date`.
"""
from __future__ import annotations

import calendar
import dataclasses
import datetime
import json
import logging
import math
import os
import sqlite3
import time
from typing import Any, Iterable, Mapping, Optional

from ..errors import ConfigError, ExitCode
from ..files import ensure_private_dir, xdg_dir
from ..reading import Reading

log = logging.getLogger(__name__)

#: The schema version this code writes; older files are migrated to it.
SCHEMA_VERSION = 3
#: Default busy timeout, seconds: how long a writer waits for another one.
DEFAULT_TIMEOUT = 30.0
#: The ``source`` of readings read back from the history.
SOURCE = "history"


class HistoryError(ConfigError):
    """The history database cannot be opened, created or understood."""

    label = "history"
    exit_code = ExitCode.HISTORY


@dataclasses.dataclass
class MonthlyTotal:
    """A billing cycle's total as last seen (``as_of``, epoch seconds)."""

    start: datetime.date
    end: datetime.date
    used: float
    total: Optional[float]
    units: str
    as_of: int

    def to_dict(self) -> dict:
        """JSON-able form: dates as ISO strings."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "used": self.used,
            "total": self.total,
            "units": self.units,
            "as_of": self.as_of,
        }


def default_history_path(env: Optional[Mapping[str, str]] = None) -> str:
    """``$XDG_DATA_HOME/xfinity-usage/history.sqlite3``, else under ``~/.local/share``.

    ``env`` defaults to :data:`os.environ`, which is only read.
    """
    return os.path.join(xdg_dir("data", env), "history.sqlite3")


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _local_date(timestamp: float, tz: Optional[datetime.tzinfo]) -> datetime.date:
    if tz is None:  # the machine's local date (the C library's localtime, as dateutil's tzlocal uses)
        return datetime.date.fromtimestamp(timestamp)
    return datetime.datetime.fromtimestamp(timestamp, tz).date()


def cycle_of(reading: Reading, tz: Optional[datetime.tzinfo] = None) -> tuple:
    """``(start, end)`` of the reading's cycle; the calendar month of its date (in ``tz``,
    default local) when the source did not say (a scraped page)."""
    if reading.cycle_start is not None and reading.cycle_end is not None:
        return reading.cycle_start, reading.cycle_end
    day = _local_date(reading.data_timestamp, tz)
    log.info("the reading names no cycle; taking the calendar month as its cycle")
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


def month_totals(reading: Reading) -> list:
    """The cycles the reading reported, as :class:`MonthlyTotal` s as of its time, oldest first."""
    return sorted((MonthlyTotal(m.start, m.end, m.used, m.total, m.units, reading.data_timestamp)
                   for m in reading.months), key=lambda m: m.start)


# ---------------------------------------------------------------- schema


def _migrate_to_1(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE readings ("
        " timestamp INTEGER PRIMARY KEY,"
        " cycle_start TEXT NOT NULL,"
        " cycle_end TEXT NOT NULL,"
        " used REAL NOT NULL,"
        " total REAL,"
        " units TEXT NOT NULL,"
        " devices TEXT)"
    )


def _migrate_to_2(db: sqlite3.Connection) -> None:
    # v2: per-device usage in its own table, imported monthly totals, an index by cycle.
    devices = []
    for timestamp, text in db.execute("SELECT timestamp, devices FROM readings WHERE devices IS NOT NULL"):
        try:
            usage_by_device = json.loads(text)
        except ValueError:
            usage_by_device = None
        if not isinstance(usage_by_device, dict):
            log.warning("history: dropping unreadable device usage of reading %s", timestamp)
            continue
        for device, usage in usage_by_device.items():
            usage = _number(usage)
            if usage is not None:
                devices.append((timestamp, str(device), usage))
    db.execute(
        "CREATE TABLE readings_v2 ("
        " timestamp INTEGER PRIMARY KEY,"
        " cycle_start TEXT NOT NULL,"
        " cycle_end TEXT NOT NULL,"
        " used REAL NOT NULL,"
        " total REAL,"
        " units TEXT NOT NULL)"
    )
    db.execute(
        "INSERT INTO readings_v2 SELECT timestamp, cycle_start, cycle_end, used, total, units FROM readings"
    )
    db.execute("DROP TABLE readings")
    db.execute("ALTER TABLE readings_v2 RENAME TO readings")
    db.execute("CREATE INDEX readings_by_cycle ON readings (cycle_start, timestamp)")
    # Created after the rebuild: dropping the old table must not cascade into it.
    db.execute(
        "CREATE TABLE device_usage ("
        " timestamp INTEGER NOT NULL REFERENCES readings(timestamp) ON DELETE CASCADE,"
        " device TEXT NOT NULL,"
        " usage REAL NOT NULL,"
        " PRIMARY KEY (timestamp, device))"
    )
    db.executemany("INSERT OR IGNORE INTO device_usage VALUES (?, ?, ?)", devices)
    db.execute(
        "CREATE TABLE months ("
        " cycle_start TEXT PRIMARY KEY,"
        " cycle_end TEXT NOT NULL,"
        " used REAL NOT NULL,"
        " total REAL,"
        " units TEXT NOT NULL,"
        " as_of INTEGER NOT NULL)"
    )


def _migrate_to_3(db: sqlite3.Connection) -> None:
    # v3: the state each notification URL was last told (--notify), keyed by a hash of the URL.
    db.execute(
        "CREATE TABLE notify_state ("
        " key TEXT PRIMARY KEY,"
        " state TEXT NOT NULL,"
        " changed REAL NOT NULL)"
    )


#: ``version -> migration`` bringing the schema from ``version - 1`` to ``version``.
_MIGRATIONS: dict = {1: _migrate_to_1, 2: _migrate_to_2, 3: _migrate_to_3}


# ---------------------------------------------------------------- the store


class HistoryStore:
    """The history database at ``path`` (``":memory:"`` for a throwaway one).

    ``timeout`` is the busy timeout in seconds. ``tz`` is the time zone
    that dates readings into cycles (default local). Use as a context
    manager, or call :meth:`close`.
    """

    def __init__(self, path: Optional[str] = None, *, timeout: float = DEFAULT_TIMEOUT,
                 tz: Optional[datetime.tzinfo] = None) -> None:
        self.path = default_history_path() if path is None else os.fspath(path)
        self.tz = tz
        self._timeout = timeout
        try:
            if self.path != ":memory:":
                _create_private(self.path)
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"cannot open the history database {self.path}: {exc}") from exc
        try:
            self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._set_wal()
            self._migrate()
            self._db.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            self._db.close()
            raise HistoryError(f"cannot use the history database {self.path}: {exc}") from exc

    # -- setup

    def _set_wal(self) -> None:
        if self.path == ":memory:":
            return
        # Switching to WAL needs a moment alone with the file; the busy
        # handler does not always cover it, so wait here as well.
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        if str(mode).lower() != "wal":
            log.warning("history database %s is in %s mode, not WAL", self.path, mode)

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        with self._transaction():
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise HistoryError(
                    f"the history database {self.path} has schema version {version}, newer than this "
                    f"xfinity-usage understands ({SCHEMA_VERSION}); upgrade xfinity-usage"
                )
            fresh = version == 0
            while version < SCHEMA_VERSION:
                version += 1
                if fresh:
                    log.debug("history: creating schema version %d in %s", version, self.path)
                else:
                    log.info("history: migrating %s to schema version %d", self.path, version)
                _MIGRATIONS[version](self._db)
                self._db.execute(f"PRAGMA user_version = {version}")

    def _transaction(self) -> "_Transaction":
        return _Transaction(self._db)

    # -- writing

    def record(self, reading: Reading, *, months: bool = True) -> bool:
        """Store a :class:`Reading`; True if stored, False if already there or without a figure.

        Idempotent: a second reading with the same ``data_timestamp`` is
        ignored. With ``months`` (the default) the cycles the reading
        reported are imported in the same transaction (see :meth:`import_months`).
        """
        if reading.used is None:
            log.info("history: the reading has no usage figure; nothing stored")
            return False
        if not reading.display_usage:  # a figure the site does not show yet must not read as a drop
            log.info("history: Xfinity marks this figure as not for display yet; not stored")
            return False
        start, end = cycle_of(reading, self.tz)
        timestamp = reading.data_timestamp
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO readings (timestamp, cycle_start, cycle_end, used, total, units)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (timestamp) DO NOTHING",
                (timestamp, start.isoformat(), end.isoformat(), reading.used, reading.total, reading.units),
            )
            stored = cursor.rowcount == 1
            if stored:
                self._db.executemany(
                    "INSERT INTO device_usage (timestamp, device, usage) VALUES (?, ?, ?)",
                    [(timestamp, device, usage) for device, usage in sorted(reading.devices.items())],
                )
            if months:
                self._upsert_months(month_totals(reading))
        if not stored:
            log.debug("history: reading %s already stored", timestamp)
        return stored

    def import_months(self, reading: Reading) -> int:
        """Store the monthly totals of every cycle the reading reported; returns how many.

        A month already known is only replaced by a figure at least as
        recent (the reading's ``data_timestamp``).
        """
        totals = month_totals(reading)
        with self._transaction():
            self._upsert_months(totals)
        return len(totals)

    def _upsert_months(self, totals: Iterable[MonthlyTotal]) -> None:
        self._db.executemany(
            "INSERT INTO months (cycle_start, cycle_end, used, total, units, as_of)"
            " VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (cycle_start) DO UPDATE SET cycle_end = excluded.cycle_end,"
            " used = excluded.used, total = excluded.total, units = excluded.units, as_of = excluded.as_of"
            " WHERE excluded.as_of >= months.as_of",
            [(m.start.isoformat(), m.end.isoformat(), m.used, m.total, m.units, m.as_of) for m in totals],
        )

    def set_notify_state(self, key: str, state: str, changed: float) -> None:
        """Remember that ``state`` was told to the notification target ``key`` (a hash, never a URL)
        at ``changed`` (epoch seconds)."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO notify_state (key, state, changed) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET state = excluded.state, changed = excluded.changed",
                (key, state, changed),
            )

    # -- reading

    def notify_state(self, key: str) -> Optional[tuple]:
        """``(state, changed)`` last told to the notification target ``key``; None when never told."""
        row = self._db.execute("SELECT state, changed FROM notify_state WHERE key = ?", (key,)).fetchone()
        return None if row is None else (row[0], row[1])

    def readings(self, cycle_start: Optional[datetime.date] = None,
                 since: Optional[float] = None) -> list:
        """Stored :class:`Reading` s, oldest first.

        ``cycle_start`` (a date or ISO string) keeps one cycle; ``since``
        (epoch seconds) keeps readings taken at or after it.
        """
        query = "SELECT timestamp, cycle_start, cycle_end, used, total, units FROM readings"
        clauses: list[str] = []
        params: list[Any] = []
        if cycle_start is not None:
            clauses.append("cycle_start = ?")
            params.append(_iso(cycle_start))
        if since is not None:
            clauses.append("timestamp >= ?")
            params.append(since)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        rows = self._db.execute(query + " ORDER BY timestamp", params).fetchall()
        devices: dict = {}
        if rows:
            device_query = "SELECT timestamp, device, usage FROM device_usage WHERE timestamp BETWEEN ? AND ?"
            for timestamp, device, usage in self._db.execute(device_query, (rows[0][0], rows[-1][0])):
                devices.setdefault(timestamp, {})[device] = usage
        return [
            Reading(used=used, total=total, units=units, data_timestamp=ts, cycle_start=_date(start),
                    cycle_end=_date(end), devices=devices.get(ts, {}), source=SOURCE)
            for ts, start, end, used, total, units in rows
        ]

    def latest(self) -> Optional[Reading]:
        """The most recent stored reading, or None."""
        row = self._db.execute("SELECT MAX(timestamp) FROM readings").fetchone()
        if row[0] is None:
            return None
        return self.readings(since=row[0])[-1]

    def monthly_totals(self) -> list:
        """Each known cycle's total (:class:`MonthlyTotal`), oldest first.

        Per cycle, the more recent of the imported month and the last
        stored reading.
        """
        best: dict = {}
        rows = self._db.execute(
            "SELECT cycle_start, cycle_end, used, total, units, as_of FROM months"
            " UNION ALL "
            "SELECT cycle_start, cycle_end, used, total, units, timestamp FROM readings r"
            " WHERE timestamp = (SELECT MAX(timestamp) FROM readings WHERE cycle_start = r.cycle_start)"
        ).fetchall()
        for start, end, used, total, units, as_of in rows:
            total_row = MonthlyTotal(_date(start), _date(end), used, total, units, as_of)
            known = best.get(total_row.start)
            if known is None or total_row.as_of > known.as_of:
                best[total_row.start] = total_row
        return [best[start] for start in sorted(best)]

    def schema_version(self) -> int:
        """The file's ``PRAGMA user_version``."""
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    # -- lifetime

    def close(self) -> None:
        """Close the database (idempotent)."""
        if self._db is not None:
            self._db.close()
            self._db = None  # type: ignore[assignment]  # closed: any later use fails loudly

    def __enter__(self) -> "HistoryStore":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HistoryStore({self.path!r})"


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")


def _create_private(path: str) -> None:
    """Make ``path``'s directory (0700) and the empty file (0600) if missing."""
    ensure_private_dir(os.path.dirname(os.path.abspath(path)))
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime.date) else str(value)


def _date(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


__all__ = [
    "DEFAULT_TIMEOUT",
    "HistoryError",
    "HistoryStore",
    "MonthlyTotal",
    "Reading",
    "SCHEMA_VERSION",
    "default_history_path",
    "cycle_of",
    "month_totals",
]
