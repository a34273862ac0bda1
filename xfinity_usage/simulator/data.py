"""The simulated account's usage: the usage JSON and the usage page's data.

Everything here is a pure function of the scenario and today's date, so
tests can predict every number the site sends.
"""
from __future__ import annotations

import calendar
import datetime
from typing import Any

#: The current month's usage and the plan's allowance, in GB.
CURRENT_USAGE = 424.0
ALLOWANCE = 1229.0
UNITS = "GB"
#: Usage of the five months before the current one, oldest first.
EARLIER_USAGE = (801.0, 912.0, 1011.0, 978.0, 1102.0)
#: Six more months before those: the new account site returns twelve.
OLDER_USAGE = (655.0, 702.0, 688.0, 740.0, 795.0, 830.0)
#: How many months the new account site's BillingInfo/context answer holds.
MOVED_MONTHS = 12
#: The plan names and allowances of the unlimited variants (no ``policy`` field says "unlimited"):
#: an allowance of 0, one of 100000 or more, a policyName naming "Unlimited".
UNLIMITED_VARIANTS = {
    "unlimited_zero": ("Xfinity Internet", 0.0),
    "unlimited_large": ("Xfinity Internet", 1000000.0),
    "unlimited_name": ("Unlimited Data Plan", ALLOWANCE),
}
ACCOUNT_NUMBER = "8499050123456789"
#: The current month's usage of the over-the-cap scenarios: under the cap so far, but at a pace
#: that ends the cycle well over it.
OVER_CAP_USAGE = 1100.0
#: The account's courtesy credits (courtesyUsed, courtesyRemaining, courtesyAllowed) per scenario:
#: Xfinity forgives the first overage. ``over_cap`` has spent its one credit (in a month a year ago,
#: listed in courtesyMonths as ``MM/YYYY``), ``over_cap_courtesy`` has it left.
COURTESY = {"over_cap": (1, 0, 1), "over_cap_courtesy": (0, 1, 1)}
DEFAULT_COURTESY = (0, 2, 2)
OVER_CAP_SCENARIOS = tuple(COURTESY)
MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: How a month's usage is split between its devices, in percent (2 or 3 devices).
DEVICE_SHARES = ((62, 27, 11), (71, 29))

NOT_SUPPORTED = {"code": "NOT_FOUND", "message": "Plan does not support the usage meter feature."}


def is_unlimited(scenario: str) -> bool:
    """True for the scenarios whose plan has no data cap."""
    return scenario in ("unlimited", "unlimited_404") or scenario in UNLIMITED_VARIANTS


def month_bounds(today: datetime.date, count: int = 6) -> list:
    """``count`` calendar months as (first day, last day), oldest first, the last holding ``today``."""
    out = []
    year, month = today.year, today.month
    for _ in range(count):
        last = calendar.monthrange(year, month)[1]
        out.append((datetime.date(year, month, 1), datetime.date(year, month, last)))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def fmt_date(day: datetime.date) -> str:
    """``MM/DD/YYYY``, as the site writes dates."""
    return f"{day.month:02d}/{day.day:02d}/{day.year:04d}"


def month_label(day: datetime.date) -> str:
    """``Nov 2026`` (English whatever the locale)."""
    return f"{MONTH_ABBR[day.month - 1]} {day.year}"


def devices(index: int, usage: float) -> list:
    """Two or three devices whose usages (multiples of 0.5, so sums are exact) add up to ``usage``."""
    shares = DEVICE_SHARES[index % 2]
    halves = int(round(usage * 2))
    parts = [halves * share // 100 for share in shares[:-1]]
    parts.append(halves - sum(parts))
    return [{"id": f"44:1C:A8:{index:02X}:{n:02X}:5E", "usage": part / 2} for n, part in enumerate(parts)]


def current_usage(scenario: str = "normal") -> float:
    """The current month's ``homeUsage`` in ``scenario``."""
    return OVER_CAP_USAGE if scenario in OVER_CAP_SCENARIOS else CURRENT_USAGE


def monthly_usages(count: int = 6, scenario: str = "normal") -> tuple:
    """Each month's ``homeUsage``, oldest first (``count`` up to 12)."""
    return (OLDER_USAGE + EARLIER_USAGE + (current_usage(scenario),))[-count:]


def month_count(scenario: str) -> int:
    """How many months the scenario's usage JSON lists."""
    return MOVED_MONTHS if scenario == "moved" else 6


def usage_json(today: datetime.date, scenario: str = "normal") -> dict:
    """The body of the usage JSON endpoints (see docs/site.rst).

    ``months_reversed`` lists the months newest first; the unlimited variants
    (:data:`UNLIMITED_VARIANTS`) carry no ``policy`` field; ``moved`` has twelve months;
    ``over_cap`` and ``over_cap_courtesy`` are at :data:`OVER_CAP_USAGE` (:data:`COURTESY`).

    Every month carries the overage terms and every answer the courtesy credits, with the
    names and values of real answers: 50 GB blocks at $10, at most $100 a month
    (thor0215/hassio-xfinity-usage, tests/const.py and issue #70; robert-alfaro/xfinity-usage
    issue #3). No month is over the cap yet, so its overage figures are 0.
    """
    unlimited = is_unlimited(scenario)
    count = month_count(scenario)
    plan, allowance = UNLIMITED_VARIANTS.get(scenario, (
        "Unlimited Data Plan" if unlimited else "1.2 Terabyte Data Plan", 0.0 if unlimited else ALLOWANCE))
    months = []
    bounds = month_bounds(today, count)
    for index, ((start, end), used) in enumerate(zip(bounds, monthly_usages(count, scenario))):
        months.append({
            "policyName": plan,
            "startDate": fmt_date(start),
            "endDate": fmt_date(end),
            "homeUsage": used,
            "wifiUsage": None,
            "totalUsage": used,
            "allowableUsage": allowance,
            "unitOfMeasure": UNITS,
            "displayUsage": True,
            "devices": devices(index, used),
            "additionalBlocksUsed": 0.0,
            "additionalCostPerBlock": 10.0,
            "additionalUnitsPerBlock": 50.0,
            "additionalBlockSize": 50.0,
            "additionalIncluded": 0.0,
            "additionalUsed": 0.0,
            "additionalPercentUsed": 0.0,
            "additionalRemaining": 0.0,
            "billableOverage": 0.0,
            "overageCharges": 0.0,
            "overageUsed": 0.0,
            "maximumOverageCharge": 100.0,
            "currentCreditAmount": 0,
            "maxCreditAmount": 0,
            "policy": "unlimited" if unlimited else "limited",
        })
        if scenario in UNLIMITED_VARIANTS:
            del months[-1]["policy"]
    if scenario == "months_reversed":
        months.reverse()
    used_credits, remaining, allowed = COURTESY.get(scenario, DEFAULT_COURTESY)
    forgiven = bounds[-1][0].replace(year=bounds[-1][0].year - 1)
    return {
        "accountNumber": ACCOUNT_NUMBER,
        "courtesyUsed": used_credits,
        "courtesyRemaining": remaining,
        "courtesyAllowed": allowed,
        "courtesyMonths": [f"{forgiven.month:02d}/{forgiven.year:04d}"] if used_credits else [],
        "inPaidOverage": False,
        "displayUsage": True,
        "usageMonths": months,
    }


def billing_context(today: datetime.date, scenario: str = "moved") -> dict:
    """The new account site's ``POST .../BillingInfo/context`` answer: the usage months (old field
    names) at ``responseData.data.subscriptionContext.customerPlanInfo.internet[0].usageMonths``."""
    internet = usage_json(today, scenario)
    internet.update({"serviceType": "INTERNET", "planName": internet["usageMonths"][-1]["policyName"]})
    return {
        "responseCode": "SUCCESS",
        "responseData": {
            "eventNames": list(BILLING_CONTEXT_EVENTS),
            "data": {
                "accountContext": {"accountNumber": ACCOUNT_NUMBER, "status": "ACTIVE", "migrated": True},
                "subscriptionContext": {"customerPlanInfo": {"internet": [internet], "video": [], "voice": []}},
                "deviceContext": {"devices": []},
                "outageContext": {"outages": []},
                "indicatorContext": {"indicators": []},
            },
        },
    }


#: The events the account page asks BillingInfo/context for (the body it sends).
BILLING_CONTEXT_EVENTS = ("call.getContext.Account", "call.getContext.Subscription", "call.getContext.Device",
                          "call.getContext.Outage", "call.getContext.Indicator")
#: The exact JSON body of the account page's call (piekstra/xfinity-cli, docs/api.md).
BILLING_CONTEXT_BODY = {"eventNames": list(BILLING_CONTEXT_EVENTS), "data": {"metadata": {"source": "maw"}}}


def meter_data(today: datetime.date, scenario: str = "normal") -> dict:
    """What the usage page's script fetches (``/apis/usage-meter/data``) to render the meter and table."""
    unlimited = is_unlimited(scenario)
    return {
        "plan": "unlimited" if unlimited else "limited",
        "unit": UNITS,
        "used": current_usage(scenario),
        "allowance": None if unlimited else ALLOWANCE,
        "months": [{"label": month_label(start), "used": used}
                   for (start, _end), used in zip(month_bounds(today), monthly_usages(scenario=scenario))],
    }


def expected_reading(scenario: str) -> dict:
    """The reading a correct client reports for ``scenario``: ``{"units", "used", "total"}``."""
    if scenario == "unlimited_404":
        return {"units": UNITS, "used": None, "total": None}
    total: float | None = None if is_unlimited(scenario) else ALLOWANCE
    return {"units": UNITS, "used": current_usage(scenario), "total": total}


def without_usage_months(body: Any) -> Any:
    """A copy of a usage JSON object with ``usageMonths`` removed."""
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k != "usageMonths"}
    return body
