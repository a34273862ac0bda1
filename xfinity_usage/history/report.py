"""The usage report: a typed :class:`Report`, its plain-text form, and a Nagios-style check.

:func:`build_report` gathers the current cycle's figures from the history
(a :class:`~xfinity_usage.history.store.HistoryStore` or a list of readings) and
the latest reading into a :class:`Report` (:meth:`Report.to_dict` is its JSON
form); :func:`render_text` prints them for a terminal or a cron email;
:func:`check_state` turns them into a Nagios/Icinga state and status line with
perfdata.
"""
from __future__ import annotations

import dataclasses
import datetime
import enum
import math
import textwrap
import time
from typing import Any, Dict, List, Optional, Tuple, cast

from . import projection as proj
from .store import MonthlyTotal, cycle_of, month_totals
from .overage import Overage, format_money, overage_of
from ..reading import Reading

#: Widest line :func:`render_text` writes.
TEXT_WIDTH = 72
#: A reading older than this (seconds) at report time gets a note.
STALE_AFTER = 6 * 3600
#: The name at the start of the Nagios status line.
SERVICE = "XFINITY USAGE"
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class State(enum.IntEnum):
    """Nagios/Icinga plugin states, which are also the check's exit codes."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


# ---------------------------------------------------------------- the report


@dataclasses.dataclass(frozen=True)
class DailyUsage:
    """The usage of one day of the cycle, in the report's units."""

    date: datetime.date
    usage: float

    def to_dict(self) -> Dict[str, Any]:
        """``{"date": "YYYY-MM-DD", "usage": ...}``."""
        return {"date": self.date.isoformat(), "usage": self.usage}


@dataclasses.dataclass(frozen=True)
class DeviceUsage:
    """One device's usage this cycle, in the report's units."""

    id: str
    usage: float

    def to_dict(self) -> Dict[str, Any]:
        """``{"id": ..., "usage": ...}``."""
        return {"id": self.id, "usage": self.usage}


@dataclasses.dataclass(frozen=True)
class PastCycle:
    """A past cycle's last known figure (``total`` None: unlimited)."""

    start: datetime.date
    end: datetime.date
    used: float
    total: Optional[float]
    units: str

    def to_dict(self) -> Dict[str, Any]:
        """``{"start", "end", "used", "total", "units"}``, the dates as ``YYYY-MM-DD``."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "used": self.used,
                "total": self.total, "units": self.units}


@dataclasses.dataclass(frozen=True)
class Report:
    """The report on the current cycle (see :func:`build_report`).

    Figures are in ``units``; each is None when it is not known (all of them
    in an empty report, see :meth:`empty`). ``total`` None means an
    unlimited plan. ``daily`` runs from the cycle's first day, ``devices``
    most first, ``past_cycles`` oldest first. ``notes`` say why a figure is
    missing or rests on little data.
    """

    used: Optional[float]
    total: Optional[float]
    units: Optional[str]
    percent: Optional[float]
    remaining: Optional[float]
    cycle_start: Optional[datetime.date]
    cycle_end: Optional[datetime.date]
    as_of: Optional[float]
    as_of_local: Optional[str]
    days_elapsed: Optional[float]
    days_left: Optional[float]
    readings: int
    daily: Tuple[DailyUsage, ...]
    average_per_day: Optional[float]
    rate_last_24h: Optional[float]
    projected: Optional[float]
    projection_basis: Optional[str]
    daily_budget: Optional[float]
    devices: Tuple[DeviceUsage, ...]
    past_cycles: Tuple[PastCycle, ...]
    overage: Optional[Overage]
    notes: Tuple[str, ...]

    @classmethod
    def empty(cls, units: Optional[str], total: Optional[float], why: str) -> Report:
        """A report without figures: ``why`` is its only note."""
        return cls(used=None, total=total, units=units, percent=None, remaining=None, cycle_start=None,
                   cycle_end=None, as_of=None, as_of_local=None, days_elapsed=None, days_left=None,
                   readings=0, daily=(), average_per_day=None, rate_last_24h=None, projected=None,
                   projection_basis=None, daily_budget=None, devices=(), past_cycles=(), overage=None,
                   notes=(why,))

    @property
    def charges(self) -> Tuple[Optional[float], Optional[float]]:
        """The overage charge so far and the projected one, in US dollars rounded to cents as
        :meth:`to_dict` has them; each None when not known (and both without an ``overage``)."""
        if self.overage is None:
            return None, None
        return _cents(self.overage.charge), _cents(self.overage.projected_charge)

    def with_note_first(self, note: str) -> Report:
        """The same report with ``note`` before its other notes."""
        return dataclasses.replace(self, notes=(note,) + self.notes)

    def to_dict(self) -> Dict[str, Any]:
        """The JSON-able dict: one key per field, in field order; dates as ``YYYY-MM-DD``, rows as
        dicts, ``overage`` as :meth:`~xfinity_usage.history.overage.Overage.to_dict`, lists for tuples."""
        return {
            "used": self.used,
            "total": self.total,
            "units": self.units,
            "percent": self.percent,
            "remaining": self.remaining,
            "cycle_start": _iso(self.cycle_start),
            "cycle_end": _iso(self.cycle_end),
            "as_of": self.as_of,
            "as_of_local": self.as_of_local,
            "days_elapsed": self.days_elapsed,
            "days_left": self.days_left,
            "readings": self.readings,
            "daily": [day.to_dict() for day in self.daily],
            "average_per_day": self.average_per_day,
            "rate_last_24h": self.rate_last_24h,
            "projected": self.projected,
            "projection_basis": self.projection_basis,
            "daily_budget": self.daily_budget,
            "devices": [device.to_dict() for device in self.devices],
            "past_cycles": [cycle.to_dict() for cycle in self.past_cycles],
            "overage": self.overage.to_dict() if self.overage is not None else None,
            "notes": list(self.notes),
        }


def _iso(day: Optional[datetime.date]) -> Optional[str]:
    return None if day is None else day.isoformat()


def _cents(amount: Optional[float]) -> Optional[float]:
    return None if amount is None else round(amount, 2)


# ---------------------------------------------------------------- building


def build_report(history: Any, reading: Optional[Reading] = None, now: Optional[float] = None,
                 tz: proj.TzLike = None) -> Report:
    """The report on the current cycle.

    ``history`` is a :class:`~xfinity_usage.history.store.HistoryStore`, a list of
    :class:`~xfinity_usage.reading.Reading` s, or None. ``reading`` is the
    reading just taken; None means the latest in ``history``. ``now``
    (epoch seconds, default the current time) only decides whether the
    reading is called stale; figures are as of the reading. ``tz`` (tzinfo
    or zone name, default local) dates readings into days.

    Fields: ``used``, ``total`` (None: unlimited), ``units``, ``percent``,
    ``remaining``, ``cycle_start``, ``cycle_end``, ``as_of``, ``as_of_local``,
    ``days_elapsed``, ``days_left``, ``readings``, ``daily``
    (:class:`DailyUsage` s), ``average_per_day``, ``rate_last_24h``, ``projected``,
    ``projection_basis`` (``"last_24h"``, ``"cycle_average"`` or None),
    ``daily_budget``, ``devices`` (:class:`DeviceUsage` s, most first),
    ``past_cycles`` (:class:`PastCycle` s, oldest first),
    ``overage`` (None, or the :class:`~xfinity_usage.history.overage.Overage`: the
    GB over the cap and the charge, so far and projected, from the terms in the reading's
    answer; None on an unlimited plan, or when the reading carries no terms, as readings
    taken from the history do not) and ``notes`` (why a figure is missing or rests on little data).
    An empty report (:meth:`Report.empty`) when there is no figure.
    """
    zone = proj.resolve_tz(tz)
    now = time.time() if now is None else now
    store = history if hasattr(history, "monthly_totals") else None
    stored: List[Reading] = []
    reported: List[MonthlyTotal] = []
    if store is None and history is not None:
        stored = [_dated(r, zone) for r in history if r.used is not None]
        for r in history:
            reported += month_totals(r)
    if reading is not None:
        if reading.used is None:
            return Report.empty(reading.units, reading.total,
                                 "Xfinity shows no usage meter for this plan: there is nothing to report")
        reported += month_totals(reading)
        current: Optional[Reading] = _dated(reading, zone)
    elif store is not None:
        current = store.latest()
    else:
        current = max(stored, key=lambda r: r.data_timestamp, default=None)
    if current is None:
        return Report.empty(None, None, "no readings yet: run xfinity-usage to take one")

    notes: List[str] = []
    if store is not None:
        cycle = store.readings(cycle_start=current.cycle_start)
        months = store.monthly_totals()
    else:
        cycle = [r for r in stored if r.cycle_start == current.cycle_start]
        months = _last_per_cycle(stored)
    cycle = _cycle_readings(cycle, current, notes)
    months = _merge_months(months, reported)
    return _figures(current, cycle, months, now, zone, notes)


def _dated(reading: Reading, zone: datetime.tzinfo) -> Reading:
    """The reading with its cycle dates set (the calendar month when the source named none)."""
    start, end = cycle_of(reading, zone)
    return dataclasses.replace(reading, cycle_start=start, cycle_end=end)


def _figures(current: Reading, cycle: List[Reading], months: List[MonthlyTotal], now: float,
             zone: datetime.tzinfo, notes: List[str]) -> Report:
    # build_report passes only dated readings with a figure (see _dated).
    start, end = cast(datetime.date, current.cycle_start), cast(datetime.date, current.cycle_end)
    as_of, used, total = current.data_timestamp, cast(float, current.used), current.total
    elapsed, left = proj.days_elapsed_and_left(start, end, as_of, zone)
    daily = proj.daily_usage(cycle, start, end, zone)
    average = proj.average_per_day(used, start, as_of, zone)
    rate = proj.rate_last_24h(cycle, as_of, cycle_start=start, cycle_end=end, tz=zone)
    projection = proj.project(used, as_of, end, rate_24h=rate, average=average, tz=zone,
                              elapsed=as_of - proj.midnight(start, zone))
    remaining = total - used if total else None
    overage = overage_of(current, projection.projected, used)
    budget = proj.daily_budget(remaining, left) if remaining is not None else None

    first = cycle[0].data_timestamp
    if len(cycle) < 2:
        notes.append("only one reading in this cycle so far: usage per day is its figure spread "
                     "evenly from the start of the cycle")
    elif first - proj.midnight(start, zone) > proj.DAY:
        notes.append(f"no readings before {_local(first, zone)}: usage per day until then is spread "
                     "evenly from the start of the cycle")
    drops = sum(1 for a, b in zip(cycle, cycle[1:]) if cast(float, b.used) < cast(float, a.used))
    if drops:
        notes.append(f"Xfinity lowered its figure {drops} time(s) this cycle (corrections): "
                     "no negative usage is counted")
    notes.extend(projection.notes)
    if remaining is None:
        notes.append("unlimited plan: no cap, so no percentage or daily budget")
    elif remaining < 0:
        notes.append(f"over the cap by {_num(-remaining)} {current.units}")
    if left <= 0:
        notes.append(f"this cycle ended on {end.isoformat()}: the next one has no reading yet")
    if now - as_of > STALE_AFTER:
        notes.append(f"the latest reading is {(now - as_of) / 3600:.0f} hours old")

    return Report(
        used=used,
        total=total,
        units=current.units,
        percent=_round(used / total * 100, 2) if total else None,
        remaining=_round(remaining),
        cycle_start=start,
        cycle_end=end,
        as_of=as_of,
        as_of_local=_local(as_of, zone),
        days_elapsed=_round(elapsed, 2),
        days_left=_round(left, 2),
        readings=len(cycle),
        daily=tuple(DailyUsage(d.date, round(d.usage, 3)) for d in daily),
        average_per_day=_round(average),
        rate_last_24h=_round(rate),
        projected=_round(projection.projected),
        projection_basis=projection.basis,
        daily_budget=_round(budget),
        devices=tuple(DeviceUsage(ident, usage)
                      for ident, usage in sorted(current.devices.items(), key=lambda item: (-item[1], item[0]))),
        past_cycles=tuple(PastCycle(m.start, m.end, m.used, m.total, m.units) for m in months if m.end < start),
        overage=overage,
        notes=tuple(notes),
    )


def _cycle_readings(cycle: List[Reading], current: Reading, notes: List[str]) -> List[Reading]:
    """The cycle's readings up to ``current`` (included once), in ``current``'s units."""
    by_time = {r.data_timestamp: r for r in cycle if r.data_timestamp <= current.data_timestamp}
    by_time[current.data_timestamp] = current
    kept = [by_time[t] for t in sorted(by_time)]
    same_units = [r for r in kept if r.units == current.units]
    if len(same_units) < len(kept):
        notes.append(f"{len(kept) - len(same_units)} reading(s) in other units than {current.units} left out")
    return same_units


def _last_per_cycle(readings: List[Reading]) -> List[MonthlyTotal]:
    last: dict = {}
    for r in sorted(readings, key=lambda r: r.data_timestamp):
        last[r.cycle_start] = MonthlyTotal(cast(datetime.date, r.cycle_start), cast(datetime.date, r.cycle_end),
                                           cast(float, r.used), r.total, r.units, r.data_timestamp)
    return list(last.values())


def _merge_months(*lists: List[MonthlyTotal]) -> List[MonthlyTotal]:
    best: dict = {}
    for months in lists:
        for m in months:
            if m.start not in best or m.as_of > best[m.start].as_of:
                best[m.start] = m
    return [best[start] for start in sorted(best)]


def _round(value: Optional[float], digits: int = 3) -> Optional[float]:
    return None if value is None else round(value, digits)


def _local(timestamp: float, zone: datetime.tzinfo) -> str:
    return datetime.datetime.fromtimestamp(timestamp, zone).isoformat(sep=" ", timespec="minutes")


# ---------------------------------------------------------------- text


def _num(value: Optional[float]) -> str:
    """812, 41.4, 0.3: whole units from 100 up, one decimal below."""
    if value is None:
        return "n/a"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"


def render_text(report: Report) -> str:
    """The report as plain text (ASCII, no colour, lines of at most 72 columns)."""
    units = report.units or ""
    lines = []
    if report.used is None:
        lines.append("Xfinity data usage: no figures")
    else:
        lines += [f"Xfinity data usage, cycle {report.cycle_start} to {report.cycle_end}",
                  f"As of {report.as_of_local}", ""]
        lines += _figure_lines(report, report.used, units)
        lines += _chart(report.daily, units)
        if report.devices:
            lines += ["", f"Devices ({units})"]
            width = min(50, max(len(d.id) for d in report.devices))
            lines += [f"  {d.id[:width]:<{width}} {_num(d.usage):>8}" for d in report.devices]
        if report.past_cycles:
            lines += ["", "Past cycles"]
            for m in reversed(report.past_cycles):
                share = f" ({m.used / m.total * 100:.0f}%)" if m.total else ""
                cap = f" of {_num(m.total)}" if m.total else ""
                lines.append(f"  {m.start} to {m.end}  {_num(m.used)}{cap} {m.units}{share}")
    if report.notes:
        lines += ["", "Notes"]
        for note in report.notes:
            lines += textwrap.wrap(note, TEXT_WIDTH, initial_indent="  - ", subsequent_indent="    ")
    return "\n".join(lines) + "\n"


def _figure_lines(report: Report, used_figure: float, units: str) -> List[str]:
    total = report.total
    if total is not None and report.percent is not None:
        used = f"{_num(used_figure)} of {_num(total)} {units} ({report.percent:.1f}%)"
    else:
        used = f"{_num(used_figure)} {units} (unlimited plan)"
    rows = [("Used", used)]
    if report.remaining is not None:
        rows.append(("Remaining", f"{_num(max(report.remaining, 0))} {units}"))
    # a report with a figure has its days (see _figures)
    elapsed, left = cast(float, report.days_elapsed), cast(float, report.days_left)
    rows.append(("Days", f"{elapsed:.1f} elapsed, {left:.1f} left"))
    rows.append(("Average", f"{_num(report.average_per_day)} {units}/day this cycle"
                 if report.average_per_day is not None else "not known yet"))
    rows.append(("Last 24 hours", f"{_num(report.rate_last_24h)} {units}/day"
                 if report.rate_last_24h is not None else "not enough readings yet"))
    if report.projected is not None:
        share = f" ({report.projected / total * 100:.0f}% of the cap)" if total else ""
        last_24h = report.projection_basis == proj.BASIS_LAST_24H
        pace = "the last-24-hour pace" if last_24h else "the cycle's average pace"
        rows.append(("Projected", f"{_num(report.projected)} {units} at the end of the cycle{share}"))
        rows.append(("", f"(at {pace})"))
    if report.daily_budget is not None:
        rows.append(("Daily budget", f"{_num(report.daily_budget)} {units}/day to stay within the cap"))
    rows += _overage_rows(report.overage, report.charges)
    return [f"{label + ':' if label else '':<15}{text}" for label, text in rows]


def _overage_rows(overage: Optional[Overage], charges: Tuple[Optional[float], Optional[float]]
                  ) -> List[Tuple[str, str]]:
    """``Overage: projected 971 GB over -> $100`` and the terms, e.g. ``(50 GB blocks at $10, max $100)``."""
    if overage is None:
        return []
    units, terms = overage.units, overage.terms

    def charge(amount: Optional[float]) -> str:
        if amount is None:
            return "charge not known"
        if amount == 0 and overage.courtesy_applies:
            left = terms.courtesy_remaining
            return f"$0, courtesy credit left: {left}" if left else "$0, a courtesy credit covers this cycle"
        return format_money(amount)

    texts = []
    if round(overage.over, 3) > 0:
        texts.append(f"{_num(overage.over)} {units} over the cap so far -> {charge(charges[0])}")
    projected = overage.projected_over
    if projected is None:
        texts.append("no projection yet" if not texts else "")
    elif round(projected, 3) > 0:
        texts.append(f"projected {_num(projected)} {units} over -> {charge(charges[1])}")
    else:
        texts.append(f"none projected -> {charge(charges[1])}")
    conditions = []
    if terms.block_size and terms.cost_per_block is not None:
        conditions.append(f"{round(terms.block_size, 3):g} {units} blocks at "
                          f"{format_money(round(terms.cost_per_block, 2))}")
    else:
        conditions.append("no block size or price given")
    if terms.maximum is not None:
        conditions.append(f"max {format_money(round(terms.maximum, 2))}")
    texts = [text for text in texts if text]
    last = f"{texts[-1]} ({', '.join(conditions)})"
    if 15 + len(last) <= TEXT_WIDTH:
        texts[-1] = last
    else:
        texts.append(f"({', '.join(conditions)})")
    return [("Overage" if index == 0 else "", text) for index, text in enumerate(texts)]


def _chart(daily: Tuple[DailyUsage, ...], units: str) -> List[str]:
    if not daily:
        return []
    most = max(d.usage for d in daily)
    width = TEXT_WIDTH - 11 - 9  # "MM-DD Ddd " + bar + " " + value
    lines = ["", f"Usage per day ({units})"]
    for day in daily:
        date = day.date
        bars = 0
        if most > 0 and day.usage > 0:
            bars = max(1, round(day.usage / most * width))
        lines.append(f"{date:%m-%d} {_WEEKDAYS[date.weekday()]} {'#' * bars:<{width}} {_num(day.usage):>8}")
    return lines


# ---------------------------------------------------------------- Nagios


def check_state(report: Optional[Report], warn: Optional[float] = None, crit: Optional[float] = None,
                on: str = "projected") -> Tuple[State, str]:
    """The Nagios/Icinga state and status line (with perfdata) for the report.

    ``warn`` and ``crit`` are percentages of the cap, compared with the
    projected end-of-cycle usage (``on="projected"``) or the current figure
    (``on="used"``); a state is reached when the figure is *above* its
    threshold, as in Nagios ranges. Without thresholds the state is OK.
    OK with a note on an unlimited plan (no cap to compare against).
    UNKNOWN when there is no report (None) or no usage figure. With ``on="projected"`` and no
    projection yet (the cycle's first day) the usage so far is judged, and
    the status line says so. Perfdata has ``used`` and ``projected``
    in the report's units with min 0 and max the cap; the thresholds, in
    absolute units, go on the figure compared. When the report has the
    overage, ``overage_charge`` and ``projected_overage_charge`` follow, in
    US dollars (no unit) with min 0 and max the maximum charge. Raises ValueError for a bad
    ``on`` or thresholds (negative, or ``warn`` above ``crit``).
    """
    if on not in ("projected", "used"):
        raise ValueError(f"on must be 'projected' or 'used', not {on!r}")
    for name, value in (("warn", warn), ("crit", crit)):
        if value is not None and (not math.isfinite(value) or value < 0):
            raise ValueError(f"{name} must be a non-negative percentage, not {value!r}")
    if warn is not None and crit is not None and warn > crit:
        raise ValueError(f"warn ({warn}%) is above crit ({crit}%)")

    if report is None or report.used is None:
        notes = (report.notes if report is not None else ()) or ("no usage figure",)
        return unknown_status(notes[0])
    used, total, projected = report.used, report.total, report.projected
    capped = total is not None and total > 0
    thresholds = warn is not None or crit is not None
    summary = _summary(report, used)
    value = projected if on == "projected" else used
    state, reason = State.OK, ""
    if thresholds and not capped:
        state, reason = State.OK, "unlimited plan, no cap to compare against: "
    elif thresholds and value is None:  # the cycle's first day: judged on what is used so far
        value, on, reason = used, "used", "no projection yet, judged on the usage so far: "
    if thresholds and capped and total and value is not None:
        share = value / total * 100
        if crit is not None and share > crit:
            state = State.CRITICAL
        elif warn is not None and share > warn:
            state = State.WARNING
    perfdata = _perfdata(report, warn if capped else None, crit if capped else None, on)
    return state, f"{SERVICE} {state.name} - {reason}{summary} | {perfdata}"


def unknown_status(reason: str) -> Tuple[State, str]:
    """UNKNOWN with ``reason``, for when there is no report at all (e.g. the site failed)."""
    reason = " ".join(str(reason).replace("|", "/").split())
    return State.UNKNOWN, f"{SERVICE} UNKNOWN - {reason}"


def _summary(report: Report, used: float) -> str:
    units, total, projected = report.units, report.total, report.projected
    if total:
        text = f"{_num(used)} of {_num(total)} {units} ({used / total * 100:.0f}%)"
        if projected is not None:
            text += f", projected {_num(projected)} {units} ({projected / total * 100:.0f}%)"
    else:
        text = f"{_num(used)} {units} used (unlimited plan)"
        if projected is not None:
            text += f", projected {_num(projected)} {units}"
    charge, projected_charge = report.charges
    if projected_charge:
        text += f", overage {format_money(projected_charge)} projected"
    elif charge:
        text += f", overage {format_money(charge)} so far"
    return text


def _perf_number(value: Optional[float]) -> str:
    if value is None:
        return ""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _perfdata(report: Report, warn: Optional[float], crit: Optional[float], on: str) -> str:
    total, units = report.total, report.units
    limits = {"warn": "", "crit": ""}
    if total:
        limits = {"warn": _perf_number(None if warn is None else total * warn / 100),
                  "crit": _perf_number(None if crit is None else total * crit / 100)}
    maximum = _perf_number(total) if total else ""
    parts = []
    for label, value in (("used", report.used), ("projected", report.projected)):
        if value is None:
            continue
        w, c = (limits["warn"], limits["crit"]) if label == on else ("", "")
        parts.append(f"{label}={_perf_number(value)}{units};{w};{c};0;{maximum}")
    overage = report.overage
    most = _perf_number(overage.terms.maximum if overage is not None else None)
    for label, charge in zip(("overage_charge", "projected_overage_charge"), report.charges):
        if charge is not None:  # in US dollars: perfdata has no currency unit
            parts.append(f"{label}={_perf_number(charge)};;;0;{most}")
    return " ".join(parts)


__all__ = ["SERVICE", "DailyUsage", "DeviceUsage", "PastCycle", "Report", "State", "build_report", "check_state", "render_text", "unknown_status"]
