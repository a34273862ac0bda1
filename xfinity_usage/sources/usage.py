"""Pure functions that turn what the site sent into a :class:`~xfinity_usage.reading.Reading`.

The usage JSON of the customer site (``usageMonths[]`` with ``homeUsage``,
``allowableUsage``, ``unitOfMeasure``, ``startDate``, ``endDate``,
``policyName``, ``devices[]``) and the usage page's meter text and table
both end here. Nothing here knows about browsers or HTTP; everything
doubtful raises :class:`DataError`.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import math
import re
import time
from typing import Any, Mapping

from ..errors import DataError
from ..reading import (
    KNOWN_UNITS,
    Month,
    Reading,
    current_cycle,
    finite_number,
    is_unlimited,
    parse_date,
)

__all__ = ["NOT_SUPPORTED_MESSAGE", "current_month", "format_reading", "is_not_supported", "month_of",
           "reading_from_billing_context", "reading_from_dict", "reading_from_json", "reading_from_page",
           "unlimited_reading", "usage_months"]

#: The 404 message the site gives for plans without a meter.
NOT_SUPPORTED_MESSAGE = "Plan does not support the usage meter feature."


def _number(month: Mapping[str, Any], key: str) -> float:
    return finite_number(f"usage month field {key!r}", month.get(key))


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


def _dated(raw: Any) -> list:
    """``[(start, end, month)]`` of the usage JSON, checked."""
    dated = [(parse_date(m.get("startDate")), parse_date(m.get("endDate")), m) for m in usage_months(raw)]
    for start, end, month in dated:
        if end < start:
            raise DataError(f"usage month ends before it starts: {month.get('startDate')}..{month.get('endDate')}")
    return dated


def current_month(raw: Mapping[str, Any], today: datetime.date) -> dict:
    """The usage month whose start..end holds ``today``, else the one that ends last."""
    dated = _dated(raw)
    return dated[current_cycle([(start, end) for start, end, _ in dated], today)][2]


def _policy(month: Mapping[str, Any]) -> str | None:
    name = month.get("policyName") or month.get("policy")
    return str(name) if name else None


def month_of(month: Mapping[str, Any]) -> Month:
    """One checked usage month of the JSON as a :class:`Month`."""
    units = month.get("unitOfMeasure")
    if units not in KNOWN_UNITS:
        raise DataError(f"unknown unit of measure {units!r}")
    used = _number(month, "homeUsage")
    allowance = month.get("allowableUsage")
    unlimited = is_unlimited(month.get("policy"), allowance) or is_unlimited(month.get("policyName"), allowance)
    total = None if unlimited else _number(month, "allowableUsage")
    return Month(parse_date(month.get("startDate")), parse_date(month.get("endDate")), used, total, units)


def _devices(month: Mapping[str, Any]) -> dict:
    devices: dict = {}
    for device in month.get("devices") or []:
        if not isinstance(device, dict) or device.get("usage") is None:
            continue
        usage = finite_number("device usage", device.get("usage"))
        ident = device.get("id")
        if isinstance(ident, str) and ident:
            devices[ident] = devices.get(ident, 0.0) + usage
    return devices


def _past_months(dated: list) -> tuple:
    """Every month of the JSON that passes the checks, oldest first (doubtful past months are left out)."""
    months = []
    for _, _, month in sorted(dated, key=lambda item: item[0]):
        try:
            months.append(month_of(month))
        except DataError:
            continue
    return tuple(months)


def reading_from_json(raw: Any, *, now: float | None = None) -> Reading:
    """Validate the usage JSON and return the reading for the current month."""
    now = time.time() if now is None else now
    today = datetime.date.fromtimestamp(now)
    dated = _dated(raw)
    month = current_month(raw, today)
    current = month_of(month)
    return Reading(used=current.used, total=current.total, units=current.units, data_timestamp=int(now),
                   cycle_start=current.start, cycle_end=current.end, devices=_devices(month),
                   policy=_policy(month), raw=raw, months=_past_months(dated),
                   display_usage=month.get("displayUsage") is not False)


#: Where the new account site's ``BillingInfo/context`` answer keeps the internet usage.
BILLING_CONTEXT_PATH = ("responseData", "data", "subscriptionContext", "customerPlanInfo", "internet")


def billing_context_usage(raw: Any) -> dict:
    """The usage JSON (``{"usageMonths": [...]}``) inside a ``BillingInfo/context`` answer:
    ``responseData.data.subscriptionContext.customerPlanInfo.internet[0]``."""
    node = raw
    for depth, key in enumerate(BILLING_CONTEXT_PATH):
        if not isinstance(node, dict) or key not in node:
            raise DataError("BillingInfo/context answer has no " + ".".join(BILLING_CONTEXT_PATH[:depth + 1]))
        node = node[key]
    if not isinstance(node, list) or not node or not isinstance(node[0], dict):
        raise DataError("BillingInfo/context answer has no internet service (internet[] is empty)")
    return node[0]


def reading_from_billing_context(raw: Any, *, now: float | None = None) -> Reading:
    """The reading from the new account site's ``BillingInfo/context`` answer (the usage months
    there have the old field names); ``raw`` is ``internet[0]``."""
    return reading_from_json(billing_context_usage(raw), now=now)


def reading_from_dict(data: Mapping[str, Any]) -> Reading:
    """A :class:`Reading` from the dict of :meth:`Reading.to_dict` or 3.0.4's ``run()``.

    The cycle, devices and months come from ``raw`` when it holds the
    usage JSON; ``used``, ``total``, ``units`` and ``data_timestamp`` are
    the dict's own.
    """
    timestamp = int(finite_number("data_timestamp", data.get("data_timestamp")))
    raw = data.get("raw")
    used, total = data.get("used"), data.get("total")
    base = Reading(used=used, total=total, units=str(data.get("units") or "GB"), data_timestamp=timestamp,
                   raw=raw, source=str(data.get("source") or ""))
    if not (isinstance(raw, dict) and raw.get("usageMonths")):
        return base
    parsed = reading_from_json(raw, now=timestamp)
    return dataclasses.replace(parsed, used=used, total=total, units=base.units, source=base.source)


def is_not_supported(status: int, body: str) -> bool:
    """True for the 404 the site answers for plans without a usage meter."""
    if status != 404:
        return False
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("message") == NOT_SUPPORTED_MESSAGE


def unlimited_reading(raw: Any, *, now: float | None = None, units: str = "GB") -> Reading:
    """The reading for a plan the meter does not cover: nothing used is known, no cap."""
    now = time.time() if now is None else now
    return Reading(used=None, total=None, units=units, data_timestamp=int(now), policy="unlimited", raw=raw)


_AMOUNT = r"([0-9][0-9,]*(?:\.[0-9]+)?)\s*([KMGT]B)"
_METER = re.compile(_AMOUNT + r"\s+remaining\s+of\s+" + _AMOUNT + r"\s+monthly\s+plan", re.I)
_METER_UNLIMITED = re.compile(_AMOUNT + r"\s+used,?\s+unlimited", re.I)
_CELL = re.compile(r"^\s*" + _AMOUNT + r"\s*$", re.I)


def _amount(number: str, unit: str) -> tuple[float, str]:
    value = float(number.replace(",", ""))
    if not math.isfinite(value):
        raise DataError(f"not a number: {number!r}")
    return value, unit.upper()


def reading_from_page(meter_text: str, rows: list, *, now: float | None = None) -> Reading:
    """A reading from the usage page: the meter text and the usage table's rows.

    This month's usage is the first cell of the table's last row, as 3.0.4
    read it (``tr[last()]/td[1]``); when that cell is not an amount (a month
    label first), the row's first cell that is. Accepted only when the meter
    and that cell agree (remaining + used = plan, to within one unit of
    rounding). ``raw`` holds what was scraped, as no JSON was seen.
    """
    now = time.time() if now is None else now
    if not rows or not rows[-1]:
        raise DataError("usage table has no rows")
    last = rows[-1]
    cell = next((found for found in (_CELL.match(text or "") for text in last) if found), None)
    if not cell:
        raise DataError(f"cannot parse usage table row {last!r}")
    used, units = _amount(*cell.groups())
    used_text = cell.group(0).strip()
    raw = {"source": "usage-page", "meterText": meter_text, "usageRows": rows}
    unlimited = _METER_UNLIMITED.search(meter_text or "")
    if unlimited:
        meter_used, meter_units = _amount(*unlimited.groups())
        if meter_units != units or abs(meter_used - used) > 1:
            raise DataError(f"usage meter ({meter_text!r}) and table ({used_text!r}) disagree")
        return Reading(used=used, total=None, units=units, data_timestamp=int(now), policy="unlimited", raw=raw)
    meter = _METER.search(meter_text or "")
    if not meter:
        raise DataError(f"cannot parse usage meter text {meter_text!r}")
    remaining, r_units = _amount(*meter.groups()[:2])
    total, t_units = _amount(*meter.groups()[2:])
    if not (r_units == t_units == units):
        raise DataError(f"usage meter ({meter_text!r}) and table ({used_text!r}) use different units")
    if abs(remaining + used - total) > 1 and not (remaining == 0 and used >= total):
        raise DataError(f"usage meter ({meter_text!r}) and table ({used_text!r}) disagree")
    return Reading(used=used, total=total, units=units, data_timestamp=int(now), raw=raw)


def format_reading(reading: Reading) -> str:
    """The one-line human summary, e.g. ``Used 224 of 1229 GB this month.``."""
    units, used = reading.units, reading.used
    if used is None:
        return "Unlimited data plan: Xfinity shows no usage meter for it."
    if reading.total is None:
        return f"Used {used:g} {units} this month (unlimited data plan)."
    return f"Used {used:g} of {reading.total:g} {units} this month."
