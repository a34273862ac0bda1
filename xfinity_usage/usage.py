"""Pure functions that turn what the site sent into a reading.

A *reading* is the dict :meth:`XfinityUsage.run` returns::

    {"data_timestamp": int, "units": "GB", "used": float,
     "total": float | None, "raw": <the usage JSON as sent>}

``total`` is ``None`` on an unlimited plan. Nothing here knows about
browsers or HTTP; everything doubtful raises :class:`DataError`.
"""
from __future__ import annotations

import datetime
import json
import math
import re
import time
from typing import Any, Mapping

from dateutil import parser as dateparser

from .errors import DataError

#: Units the meter is known to report in.
KNOWN_UNITS = ("KB", "MB", "GB", "TB")
#: ``allowableUsage`` values that mean "no cap".
UNLIMITED_ALLOWANCES = (0, 100000)
#: The 404 message the site gives for plans without a meter.
NOT_SUPPORTED_MESSAGE = "Plan does not support the usage meter feature."


def parse_date(text: str) -> datetime.date:
    """Parse ``10/01/2017``, ``2024-02-01`` or ``01-JUN-2026`` into a date."""
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"usage month date is missing or not text: {text!r}")
    try:
        return dateparser.parse(text.strip(), dayfirst=False).date()
    except (ValueError, OverflowError) as exc:
        raise DataError(f"cannot parse usage month date {text!r}") from exc


def _number(month: Mapping[str, Any], key: str, *, required: bool = True) -> float | None:
    value = month.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"usage month field {key!r} is not a number: {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise DataError(f"usage month field {key!r} is not a finite non-negative number: {value!r}")
    return value


def usage_months(raw: Any) -> list:
    """Return ``raw["usageMonths"]``, or raise DataError (transient) if it is absent."""
    months = raw.get("usageMonths") if isinstance(raw, dict) else None
    if not isinstance(months, list) or not months:
        err = DataError("usage JSON has no usageMonths")
        err.transient = True
        raise err
    for month in months:
        if not isinstance(month, dict):
            raise DataError(f"usage month is not an object: {month!r}")
    return months


def current_month(raw: Mapping[str, Any], today: datetime.date) -> dict:
    """The usage month whose start..end holds ``today``, else the latest one."""
    months = usage_months(raw)
    dated = [(parse_date(m.get("startDate")), parse_date(m.get("endDate")), m) for m in months]
    for start, end, month in dated:
        if end < start:
            raise DataError(f"usage month ends before it starts: {month.get('startDate')}..{month.get('endDate')}")
    for start, end, month in dated:
        if start <= today <= end:
            return month
    return max(dated, key=lambda item: item[0])[2]


def is_unlimited(month: Mapping[str, Any]) -> bool:
    """True when the month's plan has no data cap."""
    if str(month.get("policy", "")).lower() == "unlimited":
        return True
    allowance = month.get("allowableUsage")
    return allowance is None or allowance in UNLIMITED_ALLOWANCES


def reading_from_json(raw: Any, *, now: float | None = None) -> dict:
    """Validate the usage JSON and return the reading for the current month."""
    now = time.time() if now is None else now
    today = datetime.date.fromtimestamp(now)
    month = current_month(raw, today)
    units = month.get("unitOfMeasure")
    if units not in KNOWN_UNITS:
        raise DataError(f"unknown unit of measure {units!r}")
    used = _number(month, "homeUsage")
    if is_unlimited(month):
        total = None
    else:
        total = _number(month, "allowableUsage")
    for device in month.get("devices") or []:
        if isinstance(device, dict) and device.get("usage") is not None:
            _number(device, "usage")
    return {"data_timestamp": int(now), "units": units, "used": used, "total": total, "raw": raw}


def is_not_supported(status: int, body: str) -> bool:
    """True for the 404 the site answers for plans without a usage meter."""
    if status != 404:
        return False
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("message") == NOT_SUPPORTED_MESSAGE


def unlimited_reading(raw: Any, *, now: float | None = None, units: str = "GB") -> dict:
    """The reading for a plan the meter does not cover: nothing used is known, no cap."""
    now = time.time() if now is None else now
    return {"data_timestamp": int(now), "units": units, "used": None, "total": None, "raw": raw}


_AMOUNT = r"([0-9][0-9,]*(?:\.[0-9]+)?)\s*([KMGT]B)"
_METER = re.compile(_AMOUNT + r"\s+remaining\s+of\s+" + _AMOUNT + r"\s+monthly\s+plan", re.I)
_METER_UNLIMITED = re.compile(_AMOUNT + r"\s+used,?\s+unlimited", re.I)
_CELL = re.compile(r"^\s*" + _AMOUNT + r"\s*$", re.I)


def _amount(number: str, unit: str) -> tuple[float, str]:
    value = float(number.replace(",", ""))
    if not math.isfinite(value):
        raise DataError(f"not a number: {number!r}")
    return value, unit.upper()


def reading_from_page(meter_text: str, rows: list, *, now: float | None = None) -> dict:
    """A reading from the usage page: the meter text and the usage table's rows.

    Accepted only when the meter and the table's last row agree
    (remaining + used = plan, to within one unit of rounding).
    ``raw`` holds what was scraped, as no JSON was seen.
    """
    now = time.time() if now is None else now
    if not rows or len(rows[-1]) < 2:
        raise DataError("usage table has no rows")
    cell = _CELL.match(rows[-1][-1] or "")
    if not cell:
        raise DataError(f"cannot parse usage table cell {rows[-1][-1]!r}")
    used, units = _amount(*cell.groups())
    raw = {"source": "usage-page", "meterText": meter_text, "usageRows": rows}
    unlimited = _METER_UNLIMITED.search(meter_text or "")
    if unlimited:
        meter_used, meter_units = _amount(*unlimited.groups())
        if meter_units != units or abs(meter_used - used) > 1:
            raise DataError(f"usage meter ({meter_text!r}) and table ({rows[-1][-1]!r}) disagree")
        return {"data_timestamp": int(now), "units": units, "used": used, "total": None, "raw": raw}
    meter = _METER.search(meter_text or "")
    if not meter:
        raise DataError(f"cannot parse usage meter text {meter_text!r}")
    remaining, r_units = _amount(*meter.groups()[:2])
    total, t_units = _amount(*meter.groups()[2:])
    if not (r_units == t_units == units):
        raise DataError(f"usage meter ({meter_text!r}) and table ({rows[-1][-1]!r}) use different units")
    if abs(remaining + used - total) > 1 and not (remaining == 0 and used >= total):
        raise DataError(f"usage meter ({meter_text!r}) and table ({rows[-1][-1]!r}) disagree")
    return {"data_timestamp": int(now), "units": units, "used": used, "total": total, "raw": raw}


def format_reading(reading: Mapping[str, Any]) -> str:
    """The one-line human summary, e.g. ``Used 224 of 1229 GB this month.``."""
    units = reading["units"]
    used = reading["used"]
    if used is None:
        return "Unlimited data plan: Xfinity shows no usage meter for it."
    if reading["total"] is None:
        return f"Used {used:g} {units} this month (unlimited data plan)."
    return f"Used {used:g} of {reading['total']:g} {units} this month."
