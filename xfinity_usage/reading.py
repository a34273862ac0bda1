"""The one value every source returns: a :class:`Reading` of this cycle's usage.

Also the one place for what every part agrees on: units (:data:`UNIT_BYTES`),
dates (:func:`parse_date`), numbers (:func:`finite_number`) and the
unlimited-plan rule (:func:`is_unlimited`). Nothing here knows about
browsers, HTTP or the CLI.
"""
from __future__ import annotations

import dataclasses
import datetime
import math
from typing import Any, Mapping, Sequence

from .errors import DataError

#: Bytes in one of each unit the meter reports in. Xfinity counts in 1024s:
#: its "1.2 TB" plan is 1229 GB (1.2 * 1024).
UNIT_BYTES = {"KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40}
#: Units the meter is known to report in.
KNOWN_UNITS = tuple(UNIT_BYTES)
#: An ``allowableUsage`` of 0, or of this or more, means "no cap".
UNLIMITED_ALLOWANCE = 100000


def parse_date(text: Any) -> datetime.date:
    """Parse ``10/01/2017``, ``2024-02-01`` or ``01-JUN-2026`` into a date; DataError otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"usage month date is missing or not text: {text!r}")
    for form in _COMMON_FORMS:  # the forms the sources send, without loading dateutil's parser (6 ms)
        try:
            return datetime.datetime.strptime(text.strip(), form).date()
        except ValueError:
            pass
    from dateutil import parser as dateparser

    try:
        return dateparser.parse(text.strip(), dayfirst=False).date()
    except (ValueError, OverflowError) as exc:
        raise DataError(f"cannot parse usage month date {text!r}") from exc


#: ``10/01/2017`` (the usage JSON) and ``2024-02-01`` (the app, the new account site).
_COMMON_FORMS = ("%m/%d/%Y", "%Y-%m-%d")


def finite_number(what: str, value: Any) -> float:
    """``value`` as a finite, non-negative float; DataError otherwise (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"{what} is not a number: {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise DataError(f"{what} is not a finite non-negative number: {value!r}")
    return number


def is_unlimited(policy: Any, allowance: Any) -> bool:
    """True when a month with this policy (or policy name) and allowance has no data cap:
    a policy naming "unlimited", or an allowance that is missing, 0, or 100000 or more."""
    if "unlimited" in str(policy or "").lower():
        return True
    if isinstance(allowance, bool) or not isinstance(allowance, (int, float)):
        return allowance is None
    return allowance == 0 or allowance >= UNLIMITED_ALLOWANCE


def convert(value: float, units: str, to: str) -> float:
    """``value`` in ``units`` expressed in ``to`` (e.g. ``convert(1, "TB", "GB") == 1024``)."""
    try:
        return value * UNIT_BYTES[units] / UNIT_BYTES[to]
    except KeyError as exc:
        raise ValueError(f"unknown unit {exc.args[0]!r}; expected one of {', '.join(KNOWN_UNITS)}") from None


@dataclasses.dataclass(frozen=True)
class Month:
    """One billing cycle as the site reports it. ``total`` is None on an unlimited plan."""

    start: datetime.date
    end: datetime.date
    used: float
    total: float | None
    units: str


def current_cycle(cycles: Sequence[tuple[datetime.date, datetime.date]], today: datetime.date) -> int:
    """The index of the ``(start, end)`` cycle that holds ``today``; else of the one that ends
    last (sources list months in either order). ``cycles`` must not be empty."""
    for index, (start, end) in enumerate(cycles):
        if start <= today <= end:
            return index
    return max(range(len(cycles)), key=lambda index: cycles[index][1])


def current_month(months: Sequence[Month], today: datetime.date) -> Month:
    """The month whose cycle holds ``today``, by :func:`current_cycle`."""
    return months[current_cycle([(month.start, month.end) for month in months], today)]


@dataclasses.dataclass(frozen=True)
class Reading:
    """This cycle's usage, as one source read it.

    ``used`` is None only for a plan the site shows no meter for; ``total``
    is None on an unlimited plan. ``cycle_start``/``cycle_end`` are None
    when the source did not say (a scraped page). ``devices`` maps a
    device id to its usage in ``units``. ``months`` holds every cycle the
    source reported (past ones included), oldest first. ``source`` names
    the route that produced it (``session``, ``browser``, ...); ``raw``
    is the payload as sent.
    """

    used: float | None
    total: float | None
    units: str
    data_timestamp: int
    cycle_start: datetime.date | None = None
    cycle_end: datetime.date | None = None
    devices: Mapping[str, float] = dataclasses.field(default_factory=dict)
    policy: str | None = None
    source: str = ""
    raw: Any = None
    months: tuple[Month, ...] = ()
    #: False when the site marks the figure as not for display yet (``displayUsage: false``,
    #: seen at the start of a cycle): it is shown, but kept out of the history.
    display_usage: bool = True

    @property
    def unlimited(self) -> bool:
        """True when the plan has no cap."""
        return self.total is None

    def with_source(self, source: str) -> Reading:
        """A copy naming ``source`` as the route that produced it."""
        return dataclasses.replace(self, source=source)

    def to_dict(self) -> dict:
        """The JSON of 3.0.4's ``run()`` (``data_timestamp``, ``units``, ``used``, ``total``,
        ``raw``) followed by the fields added since, dates as ISO strings."""
        return {
            "data_timestamp": self.data_timestamp,
            "units": self.units,
            "used": self.used,
            "total": self.total,
            "raw": self.raw,
            "cycle_start": _iso(self.cycle_start),
            "cycle_end": _iso(self.cycle_end),
            "devices": [{"id": ident, "usage": usage} for ident, usage in self.devices.items()],
            "policy": self.policy,
            "source": self.source,
            "display_usage": self.display_usage,
        }


def _iso(day: datetime.date | None) -> str | None:
    return None if day is None else day.isoformat()


__all__ = ["KNOWN_UNITS", "Month", "Reading", "UNIT_BYTES", "UNLIMITED_ALLOWANCE", "convert",
           "current_cycle", "current_month", "finite_number", "is_unlimited", "parse_date"]
