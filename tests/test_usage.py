"""Unit tests of the pure usage functions."""
import datetime
import json
import math

import pytest

from xfinity_usage import DataError
from xfinity_usage.sources.usage import (
    current_month,
    format_reading,
    is_not_supported,
    parse_date,
    reading_from_json,
    reading_from_page,
)

NOW = datetime.datetime(2026, 11, 15, 12, 0).timestamp()


def month(start, end, used=224.0, total=1024.0, **extra):
    m = {"startDate": start, "endDate": end, "homeUsage": used, "allowableUsage": total,
         "unitOfMeasure": "GB", "policy": "limited", "devices": [{"id": "AA", "usage": used}],
         "wifiUsage": None, "additionalBlocksUsed": None, "overageCharges": None}
    m.update(extra)
    return m


@pytest.mark.parametrize("text,expected", [
    ("10/01/2017", datetime.date(2017, 10, 1)),
    ("2024-02-01", datetime.date(2024, 2, 1)),
    ("01-JUN-2026", datetime.date(2026, 6, 1)),
    (" 11/30/2026 ", datetime.date(2026, 11, 30)),
])
def test_parse_date_styles(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("bad", ["", None, "yesterday-ish", 20261101])
def test_parse_date_rejects(bad):
    with pytest.raises(DataError):
        parse_date(bad)


def test_current_month_holds_today_even_if_not_last():
    raw = {"usageMonths": [month("10/01/2026", "10/31/2026", 900), month("11/01/2026", "11/30/2026", 100),
                           month("12/01/2026", "12/31/2026", 0)]}
    assert current_month(raw, datetime.date(2026, 11, 15))["homeUsage"] == 100


def test_current_month_falls_back_to_latest():
    raw = {"usageMonths": [month("2026-09-01", "2026-09-30", 5), month("2026-08-01", "2026-08-31", 7)]}
    assert current_month(raw, datetime.date(2026, 11, 15))["homeUsage"] == 5


def test_reading_from_json_shape():
    raw = {"usageMonths": [month("10/01/2026", "10/31/2026", 801), month("11/01/2026", "11/30/2026", 424, 1229)]}
    reading = reading_from_json(raw, now=NOW)
    assert reading.to_dict() == {
        "data_timestamp": int(NOW), "units": "GB", "used": 424.0, "total": 1229.0, "raw": raw,
        "cycle_start": "2026-11-01", "cycle_end": "2026-11-30", "devices": [{"id": "AA", "usage": 424.0}],
        "policy": "limited", "source": "", "display_usage": True}
    assert isinstance(reading.data_timestamp, int)
    assert [(m.start.month, m.used, m.total) for m in reading.months] == [(10, 801.0, 1024.0), (11, 424.0, 1229.0)]
    assert format_reading(reading) == "Used 424 of 1229 GB this month."


@pytest.mark.parametrize("extra", [{"policy": "unlimited"}, {"allowableUsage": 0}, {"allowableUsage": 100000},
                                   {"allowableUsage": 250000}, {"policyName": "Unlimited Data Plan"},
                                   {"policy": "UNLIMITED"}])
def test_unlimited_plans_have_no_total(extra):
    raw = {"usageMonths": [month("11/01/2026", "11/30/2026", 424, **extra)]}
    reading = reading_from_json(raw, now=NOW)
    assert reading.total is None and reading.used == 424.0
    assert "unlimited" in format_reading(reading)
    assert "of 0" not in format_reading(reading)


def test_not_supported_404():
    body = json.dumps({"code": "NOT_FOUND", "message": "Plan does not support the usage meter feature."})
    assert is_not_supported(404, body)
    assert not is_not_supported(404, "<html>Not found</html>")
    assert not is_not_supported(200, body)


@pytest.mark.parametrize("raw,transient", [
    ({}, True),
    ({"usageMonths": []}, True),
    ("not a dict", True),
    ({"usageMonths": [month("11/01/2026", "11/30/2026", -1)]}, False),
    ({"usageMonths": [month("11/01/2026", "11/30/2026", math.nan)]}, False),
    ({"usageMonths": [month("11/01/2026", "11/30/2026", "424")]}, False),
    ({"usageMonths": [month("11/01/2026", "11/30/2026", unitOfMeasure="parsecs")]}, False),
    ({"usageMonths": [month("11/30/2026", "11/01/2026")]}, False),
    ({"usageMonths": [month("11/01/2026", "garbage")]}, False),
    ({"usageMonths": [month("11/01/2026", "11/30/2026", devices=[{"id": "x", "usage": -3}])]}, False),
])
def test_doubtful_json_is_an_error_never_a_guess(raw, transient):
    with pytest.raises(DataError) as info:
        reading_from_json(raw, now=NOW)
    assert info.value.transient is transient


def test_null_optional_fields_do_not_crash():
    m = month("11/01/2026", "11/30/2026", 10, devices=None)
    for key in ("wifiUsage", "additionalUsed", "overageUsed", "additionalBlockSize", "maximumOverageCharge"):
        m[key] = None
    assert reading_from_json({"usageMonths": [m]}, now=NOW).used == 10.0


def test_page_reading_consistent():
    rows = [["Oct 2026", "801GB"], ["Nov 2026", "424GB"]]
    reading = reading_from_page("805GB remaining of 1229GB monthly plan", rows, now=NOW)
    assert (reading.used, reading.total, reading.units) == (424.0, 1229.0, "GB")
    assert reading.raw["source"] == "usage-page"


def test_page_reading_unlimited():
    reading = reading_from_page("424GB used, unlimited data plan", [["Nov 2026", "424GB"]], now=NOW)
    assert reading.total is None and reading.used == 424.0


@pytest.mark.parametrize("meter,rows", [
    ("800GB remaining of 1229GB monthly plan", [["Nov 2026", "424GB"]]),   # disagree
    ("805GB remaining of 1229GB monthly plan", []),                         # no rows
    ("805GB remaining of 1229GB monthly plan", [["Nov 2026", "lots"]]),    # cell unparsable
    ("", [["Nov 2026", "424GB"]]),                                          # no meter
    ("805MB remaining of 1229GB monthly plan", [["Nov 2026", "424GB"]]),   # unit mismatch
])
def test_page_reading_rejects_inconsistent(meter, rows):
    with pytest.raises(DataError):
        reading_from_page(meter, rows, now=NOW)


def test_units_count_in_1024s():
    from xfinity_usage.reading import UNIT_BYTES, convert

    assert round(convert(1.2, "TB", "GB")) == 1229  # Xfinity's "1.2 TB" plan
    assert convert(1, "GB", "MB") == 1024 and UNIT_BYTES["GB"] == 2**30
    with pytest.raises(ValueError, match="parsecs"):
        convert(1, "parsecs", "GB")


def test_months_in_either_order_pick_the_cycle_that_holds_the_time():
    months = [month("10/01/2026", "10/31/2026", 801), month("11/01/2026", "11/30/2026", 424, 1229),
              month("09/01/2026", "09/30/2026", 700)]
    for order in (months, list(reversed(months))):
        assert reading_from_json({"usageMonths": order}, now=NOW).used == 424.0


def test_without_a_cycle_that_holds_the_time_the_latest_end_wins():
    later = NOW + 90 * 86400
    months = [month("11/01/2026", "11/30/2026", 424), month("2026-10-01", "2026-10-31", 801)]
    assert reading_from_json({"usageMonths": months}, now=later).used == 424.0


def test_display_usage_false_is_reported_and_marked():
    m = month("11/01/2026", "11/30/2026", 3)
    m["displayUsage"] = False
    reading = reading_from_json({"usageMonths": [m]}, now=NOW)
    assert reading.used == 3.0 and reading.display_usage is False
    assert reading.to_dict()["display_usage"] is False
    assert reading_from_json({"usageMonths": [month("11/01/2026", "11/30/2026", 3)]}, now=NOW).display_usage
