"""Overage now and projected, from the answer's own terms: the arithmetic, the two answers, and the report."""
from __future__ import annotations

import datetime

import pytest

from xfinity_usage.history import overage as ov
from xfinity_usage.sources.app import reading_from_graphql
from xfinity_usage.history.overage import (
    Terms,
    blocks_over,
    charge_for,
    figures,
    format_money,
    overage_of,
)
from xfinity_usage.reading import Reading
from xfinity_usage.history.report import build_report, check_state, render_text
from xfinity_usage.simulator import data
from xfinity_usage.sources.usage import (
    reading_from_billing_context,
    reading_from_json,
    reading_from_page,
)

UTC = datetime.timezone.utc
#: Terms as the real usage JSON gives them: 50 GB blocks at $10, at most $100 (thor0215/hassio-xfinity-usage).
PRICED = Terms(units="GB", block_size=50.0, cost_per_block=10.0, maximum=100.0, courtesy_remaining=0)
#: Half-way through November 2026 (30 days): 15 days elapsed, in UTC.
HALF_WAY = datetime.datetime(2026, 11, 16, tzinfo=UTC).timestamp()
TODAY = datetime.date(2026, 11, 16)


# ---------------------------------------------------------------- arithmetic at the edges


@pytest.mark.parametrize("over, blocks", [(-5.0, 0), (0.0, 0), (1.0, 1), (49.5, 1), (50.0, 1),
                                          (50.0 + 1e-10, 1), (50.5, 2), (971.0, 20), (1000.0, 20)])
def test_blocks_begun(over, blocks):
    assert blocks_over(over, 50.0) == blocks


def test_a_block_size_of_zero_is_refused():
    with pytest.raises(ValueError, match="block size"):
        blocks_over(10.0, 0.0)


@pytest.mark.parametrize("over, charge", [(0.0, 0.0), (1.0, 10.0), (50.0, 10.0), (51.0, 20.0), (499.0, 100.0),
                                          (500.0, 100.0), (501.0, 100.0), (5000.0, 100.0)])
def test_charge_is_blocks_times_price_up_to_the_maximum(over, charge):
    assert charge_for(over, PRICED) == charge


def test_no_maximum_in_the_answer_means_no_cap_on_the_charge():
    terms = Terms(units="GB", block_size=50.0, cost_per_block=10.0)
    assert charge_for(2000.0, terms) == 400.0


def test_a_courtesy_credit_left_makes_any_overage_free():
    assert charge_for(5000.0, Terms(units="GB", block_size=50.0, cost_per_block=10.0, maximum=100.0,
                                    courtesy_remaining=1)) == 0.0
    assert charge_for(70.0, Terms(units="GB", block_size=50.0, cost_per_block=10.0, courtesy_remaining=0,
                                  courtesy_this_month=True)) == 0.0


def test_without_a_price_the_charge_is_not_made_up():
    terms = Terms(units="GB", maximum=100.0, courtesy_remaining=0)
    assert charge_for(70.0, terms) is None
    assert charge_for(0.0, terms) == 0.0  # at or under the cap nothing is owed, whatever the price


def test_figures_exactly_at_the_cap_and_one_gb_over():
    at_cap = figures(1229.0, 1229.0, 1229.0, PRICED)
    assert (at_cap.over, at_cap.charge, at_cap.blocks) == (0.0, 0.0, 0)
    assert (at_cap.projected_over, at_cap.projected_charge, at_cap.projected_blocks) == (0.0, 0.0, 0)
    assert not at_cap.courtesy_applies
    one_over = figures(1230.0, 1229.0, 1230.0, PRICED)
    assert (one_over.over, one_over.charge, one_over.blocks) == (1.0, 10.0, 1)
    assert one_over.projected_charge == 10.0


def test_figures_many_blocks_reach_the_maximum():
    result = figures(1300.0, 1229.0, 2500.0, PRICED)
    assert (result.over, result.charge, result.blocks) == (71.0, 20.0, 2)
    assert (result.projected_over, result.projected_blocks, result.projected_charge) == (1271.0, 26, 100.0)


def test_figures_without_a_projection():
    result = figures(500.0, 1229.0, None, PRICED)
    assert result.charge == 0.0 and result.projected_over is None and result.projected_charge is None


def test_unpriced_terms_use_the_stated_charge_and_know_the_maximum_once_reached():
    terms = Terms(units="GB", maximum=100.0, stated_charge=30.0, courtesy_remaining=0)
    result = figures(1350.0, 1229.0, 1500.0, terms)
    assert result.charge == 30.0 and result.blocks is None
    assert result.projected_charge is None  # 271 GB over: the answer gives no price to tell
    reached = figures(1800.0, 1229.0, 1900.0, Terms(units="GB", maximum=100.0, stated_charge=100.0,
                                                     courtesy_remaining=0))
    assert reached.projected_charge == 100.0
    under = figures(500.0, 1229.0, 900.0, Terms(units="GB", maximum=100.0, stated_charge=0.0,
                                                courtesy_remaining=0))
    assert under.projected_charge == 0.0  # projected under the cap: nothing to pay


def test_money():
    assert [format_money(x) for x in (0, 10.0, 100, 12.5)] == ["$0", "$10", "$100", "$12.50"]


# ---------------------------------------------------------------- the usage JSON's terms


def month(start, end, used, **terms):
    base = {"policyName": "1.2 Terabyte Data Plan", "startDate": start, "endDate": end, "homeUsage": used,
            "allowableUsage": 1229, "unitOfMeasure": "GB", "policy": "limited"}
    base.update(terms)
    return base


REAL_TERMS = {"additionalBlocksUsed": 0, "additionalCostPerBlock": 10, "additionalUnitsPerBlock": 50,
              "additionalBlockSize": 50, "billableOverage": 0, "overageCharges": 0.0, "maximumOverageCharge": 100}


def usage_answer(used, courtesy=(0, 1, 1), months=None, **terms):
    """Shaped as the real answer (thor0215/hassio-xfinity-usage tests/const.py), at ``used`` in November 2026."""
    terms = terms or REAL_TERMS
    return {"accountNumber": "8772105840115998", "courtesyUsed": courtesy[0], "courtesyRemaining": courtesy[1],
            "courtesyAllowed": courtesy[2], "courtesyMonths": months or [], "inPaidOverage": False,
            "displayUsage": True,
            "usageMonths": [month("10/01/2026", "10/31/2026", 900, **REAL_TERMS),
                            month("11/01/2026", "11/30/2026", used, **terms)]}


def test_terms_of_the_usage_json():
    reading = reading_from_json(usage_answer(1300), now=HALF_WAY)
    terms = ov.terms_of(reading)
    assert terms == Terms(units="GB", block_size=50.0, cost_per_block=10.0, maximum=100.0, stated_charge=0.0,
                          courtesy_remaining=1, courtesy_used=0, courtesy_allowed=1, in_paid_overage=False)


def test_an_older_answer_names_the_block_size_additional_units_per_block():
    # robert-alfaro/xfinity-usage issue #3 (2019): no additionalBlockSize nor maximumOverageCharge
    reading = reading_from_json(usage_answer(1300, (1, 0, 2), additionalCostPerBlock=10.0,
                                             additionalUnitsPerBlock=50.0), now=HALF_WAY)
    result = overage_of(reading, 1500.0)
    assert result is not None and result.terms.block_size == 50.0 and result.terms.maximum is None
    assert (result.charge, result.projected_charge) == (20.0, 60.0)  # 71 GB: 2 blocks; 271 GB: 6 blocks


def test_a_month_listed_in_courtesy_months_is_forgiven():
    reading = reading_from_json(usage_answer(1300, (1, 0, 1), months=["11/2026"]), now=HALF_WAY)
    result = overage_of(reading, 1500.0)
    assert result is not None and result.charge == 0.0 and result.projected_charge == 0.0 and result.courtesy_applies
    other = reading_from_json(usage_answer(1300, (1, 0, 1), months=["03/2025"]), now=HALF_WAY)
    assert overage_of(other, 1500.0).projected_charge == 60.0


def test_the_billing_context_answer_has_the_same_terms():
    raw = {"responseData": {"data": {"subscriptionContext": {"customerPlanInfo": {
        "internet": [usage_answer(1300, (1, 0, 1))]}}}}}
    reading = reading_from_billing_context(raw, now=HALF_WAY)
    assert overage_of(reading, 1300.0).charge == 20.0


def test_no_terms_no_figures():
    assert overage_of(reading_from_json(usage_answer(1300, additionalIncluded=0), now=HALF_WAY), 1500.0) is None
    page = reading_from_page("129 GB remaining of 1229 GB monthly plan", [["1100 GB"]], now=HALF_WAY)
    assert overage_of(page, 1500.0) is None  # a scraped page carries no terms
    bare = Reading(used=1300.0, total=1229.0, units="GB", data_timestamp=int(HALF_WAY),
                   cycle_start=datetime.date(2026, 11, 1), cycle_end=datetime.date(2026, 11, 30))
    assert overage_of(bare, 1500.0) is None  # e.g. a reading from the history: no answer kept


def test_an_unlimited_plan_has_no_overage():
    raw = usage_answer(1300)
    for item in raw["usageMonths"]:
        item.update(policy="unlimited", allowableUsage=0)
    reading = reading_from_json(raw, now=HALF_WAY)
    assert reading.total is None and overage_of(reading, 2000.0) is None
    report = build_report([], reading, now=HALF_WAY, tz=UTC)
    assert report.overage is None and "Overage" not in render_text(report)


# ---------------------------------------------------------------- the app's answer


def graphql_answer(used_gb, courtesy=(0, 1, 1), charge=0, courtesy_credit=False):
    """Shaped as the app's InternetDataUsage answer (csobrinho/xfinity-usage usage.go, thor0215's
    xfinity_graphql.py docstring): amounts with units, the overage fields per month, courtesy per account."""
    def item(start, end, used):
        return {"policy": "limited", "month": start.month, "year": start.year, "startDate": start.isoformat(),
                "endDate": end.isoformat(), "daysRemaining": 0, "currentUsage": {"value": used, "unit": "GB"},
                "allowableUsage": {"value": 1.23, "unit": "TB"}, "overage": used > 1230,
                "overageCharge": charge if start.month == 11 else 0, "maximumOverageCharge": 100,
                "courtesyCredit": courtesy_credit and start.month == 11}
    return {"data": {"accountByServiceAccountId": {"internet": {"usage": {
        "inPaidOverage": charge > 0,
        "courtesy": {"totalAllowableCourtesy": courtesy[2], "usedCourtesy": courtesy[0],
                     "remainingCourtesy": courtesy[1]},
        "monthlyUsage": [item(datetime.date(2026, 11, 1), datetime.date(2026, 11, 30), used_gb),
                         item(datetime.date(2026, 10, 1), datetime.date(2026, 10, 31), 900)]}}}}}


def test_terms_of_the_app_answer():
    reading = reading_from_graphql(graphql_answer(1300, (1, 0, 1), charge=20), now=HALF_WAY)
    terms = ov.terms_of(reading)
    assert terms == Terms(units="GB", maximum=100.0, stated_charge=20.0, courtesy_remaining=0, courtesy_used=1,
                          courtesy_allowed=1, in_paid_overage=True)
    result = overage_of(reading, 1500.0)
    assert result.over == pytest.approx(70.0) and result.charge == 20.0
    assert result.projected_charge is None  # no block size or price in the app's answer: not made up


def test_the_app_answer_with_a_courtesy_credit_left_or_used_this_month():
    left = overage_of(reading_from_graphql(graphql_answer(1300), now=HALF_WAY), 1500.0)
    assert (left.charge, left.projected_charge, left.courtesy_applies) == (0.0, 0.0, True)
    credited = overage_of(reading_from_graphql(graphql_answer(1300, (1, 0, 1), courtesy_credit=True),
                                               now=HALF_WAY), 1500.0)
    assert credited.projected_charge == 0.0


def test_an_app_answer_without_overage_fields_has_no_figures():
    raw = graphql_answer(1300)
    for item in raw["data"]["accountByServiceAccountId"]["internet"]["usage"]["monthlyUsage"]:
        del item["overageCharge"], item["maximumOverageCharge"]
    assert overage_of(reading_from_graphql(raw, now=HALF_WAY), 1500.0) is None


# ---------------------------------------------------------------- done when


def test_simulated_account_at_1100_of_1229_half_way_projects_the_charge_its_terms_give():
    """Issue 22: 1100 of 1229 GB after 15 of 30 days projects 2200 GB: 971 GB over, 20 blocks of
    50 GB at $10 = $200, capped at the answer's maximum, $100; nothing is owed so far."""
    raw = data.usage_json(TODAY, "over_cap")
    reading = reading_from_json(raw, now=HALF_WAY)
    assert (reading.used, reading.total, reading.cycle_start) == (1100.0, 1229.0, datetime.date(2026, 11, 1))
    report = build_report([], reading, now=HALF_WAY, tz=UTC)
    assert report.days_elapsed == 15.0 and report.projected == 2200.0
    assert report.overage is not None and report.overage.to_dict() == {
        "currency": "USD", "units": "GB", "over": 0.0, "charge": 0.0, "blocks": 0,
        "projected_over": 971.0, "projected_charge": 100.0, "projected_blocks": 20,
        "block_size": 50.0, "cost_per_block": 10.0, "maximum_charge": 100.0,
        "courtesy_remaining": 0, "courtesy_applies": False}
    text = render_text(report)
    assert "Overage:       projected 971 GB over -> $100\n" in text
    assert "               (50 GB blocks at $10, max $100)\n" in text
    assert all(len(line) <= 72 for line in text.splitlines())
    state, line = check_state(report, warn=90, crit=100)
    assert line.startswith("XFINITY USAGE CRITICAL - 1100 of 1229 GB (90%), projected 2200 GB (179%), "
                           "overage $100 projected | ")
    assert line.endswith(" overage_charge=0;;;0;100 projected_overage_charge=100;;;0;100")


def test_simulated_account_with_a_courtesy_credit_left_pays_nothing_and_says_so():
    reading = reading_from_json(data.usage_json(TODAY, "over_cap_courtesy"), now=HALF_WAY)
    report = build_report([], reading, now=HALF_WAY, tz=UTC)
    assert report.overage.projected_over == 971.0 and report.overage.projected_charge == 0.0
    assert report.overage.courtesy_applies is True and report.overage.terms.courtesy_remaining == 1
    assert "Overage:       projected 971 GB over -> $0, courtesy credit left: 1\n" in render_text(report)
    state, line = check_state(report)
    assert "overage $" not in line.split("|")[0]
    assert line.endswith(" overage_charge=0;;;0;100 projected_overage_charge=0;;;0;100")


def test_the_demo_account_is_under_the_cap_and_projects_no_overage():
    reading = reading_from_json(data.usage_json(TODAY), now=HALF_WAY)
    report = build_report([], reading, now=HALF_WAY, tz=UTC)
    assert report.projected == 848.0
    assert report.overage.projected_over == 0.0 and report.overage.projected_charge == 0.0
    assert "Overage:       none projected -> $0 (50 GB blocks at $10, max $100)\n" in render_text(report)


def test_the_app_route_at_1100_of_1229_half_way_gives_what_its_terms_give():
    """The app's answer has the maximum and the courtesy credits but no block size nor price: the
    projected overage is known, its charge only when a courtesy credit makes it $0."""
    spent = build_report([], reading_from_graphql(graphql_answer(1100, (1, 0, 1)), now=HALF_WAY), now=HALF_WAY, tz=UTC)
    assert spent.projected == 2200.0
    assert spent.overage.projected_over == pytest.approx(970.0)  # the app's cap: 1.23 TB = 1230 GB (issue 21)
    assert spent.overage.projected_charge is None and spent.overage.charge == 0.0
    text = render_text(spent)
    assert ("Overage:       projected 970 GB over -> charge not known\n"
            "               (no block size or price given, max $100)\n") in text
    assert check_state(spent)[1].endswith(" overage_charge=0;;;0;100")  # no projected charge made up
    left = build_report([], reading_from_graphql(graphql_answer(1100), now=HALF_WAY), now=HALF_WAY, tz=UTC)
    assert left.overage.projected_charge == 0.0
    assert "projected 970 GB over -> $0, courtesy credit left: 1\n" in render_text(left)
