"""Will this cycle cost extra? The overage now and at the end of the cycle, from the answer's own terms.

Xfinity bills data beyond the cap in blocks: every block begun costs the
price of a block, and the month's charge stops at a maximum. Its first
overage is forgiven: while a courtesy credit remains, going over costs
nothing. Every answer carries these terms, and they are read from it
(:attr:`~xfinity_usage.reading.Reading.raw`), never assumed:

- the usage JSON of the customer site (and the ``internet[0]`` of the new
  account site's ``BillingInfo/context``), per month ``additionalBlockSize``
  (older answers: ``additionalUnitsPerBlock``), ``additionalCostPerBlock``,
  ``maximumOverageCharge``, ``overageCharges``; per account
  ``courtesyRemaining``, ``courtesyUsed``, ``courtesyAllowed``,
  ``courtesyMonths`` (``MM/YYYY``) and ``inPaidOverage``
  (thor0215/hassio-xfinity-usage, tests/const.py and issue #70;
  robert-alfaro/xfinity-usage issue #3);
- the app's ``InternetDataUsage`` answer, per month ``overageCharge``,
  ``maximumOverageCharge`` and ``courtesyCredit``; per account
  ``courtesy {totalAllowableCourtesy usedCourtesy remainingCourtesy}`` and
  ``inPaidOverage`` (csobrinho/xfinity-usage, usage.go). It gives no block
  size nor price per block: its projected charge is known only when it
  cannot be anything else ($0 under the cap or with a courtesy credit, the
  maximum once reached).

An unlimited plan, or an answer without terms, has no overage figures.
"""
from __future__ import annotations

import dataclasses
import datetime
import math
from typing import Any, Mapping, Optional

from ..errors import DataError
from ..reading import Reading, convert, parse_date

#: The currency of every charge (Xfinity bills in US dollars).
CURRENCY = "USD"
#: Where the app's answer keeps the account's usage (``inPaidOverage``, ``courtesy``, ``monthlyUsage``).
GRAPHQL_USAGE_PATH = ("data", "accountByServiceAccountId", "internet", "usage")

__all__ = ["CURRENCY", "Overage", "Terms", "blocks_over", "charge_for", "figures", "format_money",
           "overage_of", "terms_from_graphql", "terms_from_usage_json", "terms_of"]


@dataclasses.dataclass(frozen=True)
class Terms:
    """What the answer says overage costs this cycle.

    ``block_size`` is in ``units``; ``cost_per_block`` and ``maximum`` in
    :data:`CURRENCY`. ``stated_charge`` is the charge so far as the answer
    states it. ``courtesy_this_month`` is True when the answer marks this
    month as forgiven. Each is None when the answer does not say.
    """

    units: str
    block_size: Optional[float] = None
    cost_per_block: Optional[float] = None
    maximum: Optional[float] = None
    stated_charge: Optional[float] = None
    courtesy_remaining: Optional[int] = None
    courtesy_used: Optional[int] = None
    courtesy_allowed: Optional[int] = None
    courtesy_this_month: bool = False
    in_paid_overage: Optional[bool] = None

    @property
    def priced(self) -> bool:
        """True when the answer gives a block size and a price per block."""
        return bool(self.block_size) and self.cost_per_block is not None

    @property
    def waived(self) -> bool:
        """True when a courtesy credit covers this month's overage."""
        return self.courtesy_this_month or bool(self.courtesy_remaining)

    def in_units(self, units: str) -> Terms:
        """The same terms with the block size in ``units``."""
        if self.block_size is None or units == self.units:
            return dataclasses.replace(self, units=units)
        return dataclasses.replace(self, units=units, block_size=convert(self.block_size, self.units, units))


@dataclasses.dataclass(frozen=True)
class Overage:
    """The overage of one cycle: so far and projected, in ``units`` and :data:`CURRENCY`.

    ``charge``/``projected_charge`` are None when the terms cannot tell;
    ``projected_over`` is None without a projection. ``blocks`` are the
    blocks begun (None when the answer gives no block size).
    """

    units: str
    over: float
    charge: Optional[float]
    blocks: Optional[int]
    projected_over: Optional[float]
    projected_charge: Optional[float]
    projected_blocks: Optional[int]
    terms: Terms

    @property
    def courtesy_applies(self) -> bool:
        """True when the cycle goes (or is projected to go) over and a courtesy credit waives the charge."""
        return self.terms.waived and (self.over > 0 or bool(self.projected_over))

    def to_dict(self) -> dict:
        """The JSON-able figures (the report's ``overage``)."""
        terms = self.terms
        return {
            "currency": CURRENCY,
            "units": self.units,
            "over": _round(self.over),
            "charge": _round(self.charge, 2),
            "blocks": self.blocks,
            "projected_over": _round(self.projected_over),
            "projected_charge": _round(self.projected_charge, 2),
            "projected_blocks": self.projected_blocks,
            "block_size": _round(terms.block_size),
            "cost_per_block": _round(terms.cost_per_block, 2),
            "maximum_charge": _round(terms.maximum, 2),
            "courtesy_remaining": terms.courtesy_remaining,
            "courtesy_applies": self.courtesy_applies,
        }


# ---------------------------------------------------------------- arithmetic


def blocks_over(over: float, block_size: float) -> int:
    """The blocks begun by ``over`` (0 at or under the cap; a part of a block counts as one)."""
    if block_size <= 0:
        raise ValueError(f"block size must be positive, not {block_size!r}")
    if over <= 0:
        return 0
    # rounded first, so that 50.0000000001 GB over 50 GB blocks (float noise) is one block, not two
    return math.ceil(round(over / block_size, 9))


def charge_for(over: float, terms: Terms) -> Optional[float]:
    """What ``over`` (in ``terms.units``) beyond the cap costs: blocks begun times the price,
    at most the maximum; $0 at or under the cap or when a courtesy credit covers it. None when
    the terms do not give the price."""
    if over <= 0 or terms.waived:
        return 0.0
    if not terms.priced:
        return None
    charge = blocks_over(over, terms.block_size or 0.0) * (terms.cost_per_block or 0.0)
    return charge if terms.maximum is None else min(charge, terms.maximum)


def figures(used: float, total: float, projected: Optional[float], terms: Terms) -> Overage:
    """The overage of a cycle with ``used`` of ``total`` so far and ``projected`` at its end
    (all in ``terms.units``).

    The charge so far is computed from the blocks when the terms are
    priced, else it is the one the answer states (``overageCharge``).
    The projected charge never falls below the charge so far; when the
    terms are not priced it is known only when it cannot be anything else.
    """
    over = max(used - total, 0.0)
    charge = charge_for(over, terms)
    if charge is None:
        charge = terms.stated_charge
    projected_over = None if projected is None else max(projected - total, 0.0, over)
    projected_charge = None if projected_over is None else charge_for(projected_over, terms)
    if projected_charge is None and terms.maximum is not None and charge is not None and charge >= terms.maximum:
        projected_charge = terms.maximum  # the maximum reached: the rest of the cycle costs nothing more
    if projected_charge is not None and charge is not None:
        projected_charge = max(projected_charge, charge)

    def blocks(amount: Optional[float]) -> Optional[int]:
        return None if amount is None or not terms.block_size else blocks_over(amount, terms.block_size)

    return Overage(terms.units, over, charge, blocks(over), projected_over, projected_charge,
                   blocks(projected_over), terms)


def format_money(amount: float) -> str:
    """``$10``, ``$12.50``: whole dollars without cents."""
    return f"${amount:.0f}" if float(amount).is_integer() else f"${amount:.2f}"


# ---------------------------------------------------------------- reading the terms


def terms_of(reading: Reading) -> Optional[Terms]:
    """The terms in ``reading.raw`` for the reading's cycle; None for an answer without them."""
    raw = reading.raw
    if not isinstance(raw, dict) or reading.cycle_start is None:
        return None
    if "usageMonths" in raw:
        return terms_from_usage_json(raw, reading.cycle_start)
    if isinstance(raw.get("data"), dict):
        return terms_from_graphql(raw, reading.cycle_start)
    return None


def terms_from_usage_json(raw: Mapping[str, Any], cycle_start: datetime.date) -> Optional[Terms]:
    """The terms of the usage JSON's month starting ``cycle_start``; None when it gives none."""
    month = _month_starting(raw.get("usageMonths"), cycle_start, "startDate")
    if month is None:
        return None
    units = month.get("unitOfMeasure")
    block = _amount(month.get("additionalBlockSize"))
    if block is None:
        block = _amount(month.get("additionalUnitsPerBlock"))
    cost, maximum = _amount(month.get("additionalCostPerBlock")), _amount(month.get("maximumOverageCharge"))
    stated = _amount(month.get("overageCharges"))
    if not isinstance(units, str) or (block is None and cost is None and maximum is None and stated is None):
        return None
    forgiven = f"{cycle_start.month:02d}/{cycle_start.year:04d}"
    months = raw.get("courtesyMonths")
    return Terms(units=units, block_size=block or None, cost_per_block=cost, maximum=maximum, stated_charge=stated,
                 courtesy_remaining=_count(raw.get("courtesyRemaining")), courtesy_used=_count(raw.get("courtesyUsed")),
                 courtesy_allowed=_count(raw.get("courtesyAllowed")),
                 courtesy_this_month=isinstance(months, list) and forgiven in months,
                 in_paid_overage=_flag(raw.get("inPaidOverage")))


def terms_from_graphql(raw: Mapping[str, Any], cycle_start: datetime.date) -> Optional[Terms]:
    """The terms of the app's answer for the month starting ``cycle_start``; None when it gives none.
    Its amounts are in GB (the app's reading is converted to GB)."""
    node: Any = raw
    for key in GRAPHQL_USAGE_PATH:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return None
    month = _month_starting(node.get("monthlyUsage"), cycle_start, "startDate")
    if month is None:
        return None
    stated, maximum = _amount(month.get("overageCharge")), _amount(month.get("maximumOverageCharge"))
    if stated is None and maximum is None:
        return None
    found = node.get("courtesy")
    courtesy: Mapping[str, Any] = found if isinstance(found, dict) else {}
    return Terms(units="GB", maximum=maximum, stated_charge=stated,
                 courtesy_remaining=_count(courtesy.get("remainingCourtesy")),
                 courtesy_used=_count(courtesy.get("usedCourtesy")),
                 courtesy_allowed=_count(courtesy.get("totalAllowableCourtesy")),
                 courtesy_this_month=month.get("courtesyCredit") is True,
                 in_paid_overage=_flag(node.get("inPaidOverage")))


def overage_of(reading: Reading, projected: Optional[float] = None,
               used: Optional[float] = None) -> Optional[Overage]:
    """The overage of ``reading``'s cycle with ``projected`` at its end, in the reading's units; None
    on an unlimited plan, without a figure, or when the answer gives no terms. ``used`` overrides
    the reading's figure."""
    used = reading.used if used is None else used
    if used is None or reading.total is None or reading.total <= 0:
        return None
    terms = terms_of(reading)
    if terms is None:
        return None
    try:
        terms = terms.in_units(reading.units)
    except ValueError:
        return None
    return figures(used, reading.total, projected, terms)


def _month_starting(months: Any, cycle_start: datetime.date, key: str) -> Optional[Mapping[str, Any]]:
    if not isinstance(months, list):
        return None
    for month in months:
        if isinstance(month, dict):
            try:
                if parse_date(month.get(key)) == cycle_start:
                    return month
            except DataError:
                continue
    return None


def _amount(value: Any) -> Optional[float]:
    """A finite non-negative number, else None (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def _count(value: Any) -> Optional[int]:
    number = _amount(value)
    return None if number is None else int(number)


def _flag(value: Any) -> Optional[bool]:
    return value if isinstance(value, bool) else None


def _round(value: Optional[float], digits: int = 3) -> Optional[float]:
    return None if value is None else round(value, digits)
