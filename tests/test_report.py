"""The report: figures, JSON, text, and the Nagios-style check."""
import dataclasses
import datetime
import json

import pytest

from xfinity_usage.history.store import HistoryStore, Reading
from xfinity_usage.sources.usage import reading_from_dict
from xfinity_usage.history.report import (
    DailyUsage,
    DeviceUsage,
    PastCycle,
    Report,
    State,
    build_report,
    check_state,
    render_text,
    unknown_status,
)

from .fixtures_clock import local_zone

UTC = datetime.timezone.utc
D = datetime.date


@pytest.fixture(autouse=True)
def utc_is_the_local_zone():
    """``reading_from_dict`` dates a reading in the local zone, and these figures are in UTC (``tz=UTC``):
    UTC is the local zone here, whatever the machine's."""
    with local_zone("UTC"):
        yield


def at(*args):
    return int(datetime.datetime(*args, tzinfo=UTC).timestamp())


def raw(used, total=1229.0, policy="limited", devices=True):
    current = {"startDate": "11/01/2026", "endDate": "11/30/2026", "homeUsage": used, "allowableUsage": total,
               "unitOfMeasure": "GB", "policy": policy,
               "devices": [{"id": "AA:01", "usage": used * 0.25}, {"id": "AA:02", "usage": used * 0.75}]
               if devices else None}
    return {"usageMonths": [
        {"startDate": "09/01/2026", "endDate": "09/30/2026", "homeUsage": 1000.0, "allowableUsage": total,
         "unitOfMeasure": "GB", "policy": policy},
        {"startDate": "2026-10-01", "endDate": "2026-10-31", "homeUsage": 1100.0, "allowableUsage": total,
         "unitOfMeasure": "GB", "policy": policy},
        current,
    ]}


def reading(timestamp, used, total=1229.0, **kw):
    unlimited = total is None
    return reading_from_dict({"data_timestamp": timestamp, "units": "GB", "used": used, "total": total,
                              "raw": raw(used, 0 if unlimited else total, "unlimited" if unlimited else "limited",
                                         **kw)})


def series(per_hour=2.0, until=(2026, 11, 11, 12), total=1229.0):
    """Hourly readings from Nov 1 01:00 at a steady pace."""
    start, end = at(2026, 11, 1, 1), at(*until)
    return [reading(t, round(per_hour * (t - at(2026, 11, 1)) / 3600, 3), total)
            for t in range(start, end + 1, 3600)]


# ---------------------------------------------------------------- figures


def test_report_figures():
    readings = series()
    r = build_report(readings[:-1], readings[-1], now=readings[-1].data_timestamp, tz=UTC)
    assert (r.used, r.total, r.units) == (504.0, 1229.0, "GB")
    assert r.percent == 41.01
    assert (r.cycle_start, r.cycle_end) == (D(2026, 11, 1), D(2026, 11, 30))
    assert (r.days_elapsed, r.days_left) == (10.5, 19.5)
    assert r.readings == len(readings)
    assert [d.usage for d in r.daily] == pytest.approx([48.0] * 10 + [24.0])
    assert r.daily[0].date == D(2026, 11, 1)
    assert r.average_per_day == pytest.approx(48.0)
    assert r.rate_last_24h == pytest.approx(48.0)
    assert r.projected == 1440.0
    assert r.projection_basis == "last_24h"
    assert r.daily_budget == pytest.approx((1229.0 - 504.0) / 19.5, abs=0.001)
    assert r.remaining == 725.0
    assert r.devices == (DeviceUsage("AA:02", 378.0), DeviceUsage("AA:01", 126.0))
    assert r.past_cycles == (PastCycle(D(2026, 9, 1), D(2026, 9, 30), 1000.0, 1229.0, "GB"),
                             PastCycle(D(2026, 10, 1), D(2026, 10, 31), 1100.0, 1229.0, "GB"))
    assert r.notes == ()


def test_report_is_json_able():
    readings = series()
    r = build_report(readings, now=readings[-1].data_timestamp, tz=UTC)
    assert json.loads(json.dumps(r.to_dict())) == r.to_dict()


#: The report's JSON keys, in order (the CLI's --report -j, the webhook's "report").
REPORT_KEYS = ["used", "total", "units", "percent", "remaining", "cycle_start", "cycle_end", "as_of", "as_of_local",
               "days_elapsed", "days_left", "readings", "daily", "average_per_day", "rate_last_24h", "projected",
               "projection_basis", "daily_budget", "devices", "past_cycles", "overage", "notes"]


def test_report_to_dict_has_the_keys_in_order_and_round_trips_through_json():
    readings = series()
    r = build_report(readings[:-1], readings[-1], now=readings[-1].data_timestamp + 7 * 3600, tz=UTC)
    d = r.to_dict()
    assert list(d) == REPORT_KEYS == [field.name for field in dataclasses.fields(Report)]
    assert json.loads(json.dumps(d)) == d
    assert (d["cycle_start"], d["cycle_end"]) == ("2026-11-01", "2026-11-30")
    assert d["daily"][0] == {"date": "2026-11-01", "usage": 48.0} and len(d["daily"]) == 11
    assert d["devices"] == [{"id": "AA:02", "usage": 378.0}, {"id": "AA:01", "usage": 126.0}]
    assert d["past_cycles"][0] == {"start": "2026-09-01", "end": "2026-09-30", "used": 1000.0, "total": 1229.0,
                                   "units": "GB"}
    assert d["notes"] == ["the latest reading is 7 hours old"] and d["overage"] is None
    assert (d["used"], d["percent"], d["as_of_local"], d["readings"]) == (504.0, 41.01, "2026-11-11 12:00+00:00", 252)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.used = 0.0  # type: ignore[misc]


@pytest.mark.parametrize("report", [
    Report.empty("GB", None, "Xfinity shows no usage meter for this plan"),
    build_report(None),
], ids=["no-meter", "no-readings"])
def test_an_empty_report_has_the_same_keys(report):
    d = report.to_dict()
    assert list(d) == REPORT_KEYS
    assert json.loads(json.dumps(d)) == d
    assert d["readings"] == 0 and d["daily"] == d["devices"] == d["past_cycles"] == [] and len(d["notes"]) == 1
    assert all(d[key] is None for key in REPORT_KEYS if key not in ("units", "readings", "daily", "devices",
                                                                   "past_cycles", "notes"))


def test_an_offline_note_goes_first_and_leaves_the_report_alone():
    readings = series(until=(2026, 11, 2, 12))
    r = build_report(readings, now=readings[-1].data_timestamp, tz=UTC)
    noted = r.with_note_first("offline")
    assert noted.notes == ("offline",) + r.notes and noted.to_dict()["notes"][0] == "offline"
    assert "offline" not in r.notes and dataclasses.replace(noted, notes=r.notes) == r


def test_report_from_a_store(tmp_path):
    readings = series(until=(2026, 11, 3, 12))
    with HistoryStore(str(tmp_path / "h.sqlite3"), tz=UTC) as store:
        for rd in readings:
            store.record(rd)
        store.record(reading(at(2026, 10, 31, 20), 1099.0))  # the previous cycle stays out
        from_store = build_report(store, now=readings[-1].data_timestamp, tz=UTC)
        with_reading = build_report(store, readings[-1], now=readings[-1].data_timestamp, tz=UTC)
    from_list = build_report(readings, now=readings[-1].data_timestamp, tz=UTC)
    assert from_store == with_reading == from_list
    assert from_store.past_cycles[-1].used == 1100.0


def test_stored_readings_and_fresh_ones_mix():
    readings = series(until=(2026, 11, 2, 12))
    stored = [Reading(used=rd.used, total=1229.0, units="GB", data_timestamp=rd.data_timestamp,
                      cycle_start=D(2026, 11, 1), cycle_end=D(2026, 11, 30), source="history")
              for rd in readings[:-1]]
    r = build_report(stored, readings[-1], now=readings[-1].data_timestamp, tz=UTC)
    assert r.readings == len(readings) and r.rate_last_24h == pytest.approx(48.0)


def test_new_cycle_resets_and_old_cycle_becomes_past():
    old = [reading(at(2026, 10, 31, h), 1090.0 + h / 2) for h in range(0, 24, 6)]
    # the site did not show November yet
    old = [dataclasses.replace(rd, months=rd.months[:2]) for rd in old]
    new = [reading(at(2026, 11, 1, 6), 6.0), reading(at(2026, 11, 1, 12), 12.0)]
    r = build_report(old + new[:1], new[1], now=at(2026, 11, 1, 12), tz=UTC)
    assert r.cycle_start == D(2026, 11, 1) and r.readings == 2
    assert r.daily == (DailyUsage(D(2026, 11, 1), 12.0),)
    assert r.rate_last_24h is None and r.projection_basis is None and r.projected is None
    assert "the cycle began less than a day ago: too little of it to project from" in r.notes
    assert r.past_cycles[-1].start == D(2026, 10, 1)
    later = build_report(old + new, reading(at(2026, 11, 2, 0), 24.0), now=at(2026, 11, 2, 0), tz=UTC)
    assert later.projection_basis == "last_24h"  # a whole day of the cycle: its start is 24 hours back
    assert later.projected == pytest.approx(24.0 * 30)


def test_gap_and_correction_notes():
    readings = [reading(at(2026, 11, 4, 12), 100.0), reading(at(2026, 11, 5, 12), 150.0),
                reading(at(2026, 11, 6, 12), 140.0), reading(at(2026, 11, 7, 12), 170.0)]
    r = build_report(readings, now=at(2026, 11, 7, 12), tz=UTC)
    assert all(d.usage >= 0 for d in r.daily)
    assert sum(d.usage for d in r.daily) == pytest.approx(180.0, abs=0.01)
    assert r.rate_last_24h == pytest.approx(30.0)
    text = " ".join(r.notes)
    assert "no readings before 2026-11-04 12:00" in text
    assert "corrections" in text


def test_unlimited_plan():
    readings = series(total=None)
    r = build_report(readings, now=readings[-1].data_timestamp, tz=UTC)
    assert r.total is None and r.percent is None and r.daily_budget is None and r.remaining is None
    assert r.projected == 1440.0
    assert any("unlimited" in n for n in r.notes)
    assert r.past_cycles[0].total is None


def test_over_the_cap():
    r = build_report([], reading(at(2026, 11, 25), 1300.0), now=at(2026, 11, 25), tz=UTC)
    assert r.percent > 100 and r.daily_budget == 0.0
    assert any("over the cap by 71" in n for n in r.notes)


def test_one_reading_says_what_it_can():
    r = build_report([], reading(at(2026, 11, 3), 96.0), now=at(2026, 11, 3), tz=UTC)
    assert r.readings == 1
    assert r.average_per_day == pytest.approx(48.0)
    assert r.rate_last_24h is None
    assert (r.projection_basis, r.projected) == ("cycle_average", pytest.approx(96.0 + 48.0 * 28))
    assert [d.usage for d in r.daily] == [48.0, 48.0, 0.0]
    notes = " ".join(r.notes)
    assert "only one reading" in notes and "24 hours" in notes


def test_no_readings_at_all(tmp_path):
    with HistoryStore(str(tmp_path / "h.sqlite3")) as store:
        r = build_report(store)
    assert r.used is None and r.daily == () and "no readings yet" in r.notes[0]
    assert build_report(None).used is None
    assert json.loads(json.dumps(r.to_dict())) == r.to_dict()


def test_plan_without_a_meter():
    r = build_report([], reading_from_dict({"data_timestamp": at(2026, 11, 3), "units": "GB", "used": None,
                                            "total": None, "raw": {}}))
    assert r.used is None and "no usage meter" in r.notes[0]


def test_cycle_over_and_stale_reading():
    r = build_report([], reading(at(2026, 11, 30, 23), 500.0), now=at(2026, 12, 2), tz=UTC)
    assert r.days_left == pytest.approx(1 / 24, abs=0.01)
    assert any("hours old" in n for n in r.notes)
    old = reading(at(2026, 12, 1, 1), 500.0)  # the site still shows November as its latest month
    r = build_report([], old, now=at(2026, 12, 1, 1), tz=UTC)
    assert r.cycle_end == D(2026, 11, 30) and r.days_left == 0 and r.daily_budget is None
    assert any("ended" in n for n in r.notes)


def test_other_units_are_left_out():
    readings = series(until=(2026, 11, 2))
    readings[3] = dataclasses.replace(readings[3], units="MB")
    r = build_report(readings, now=readings[-1].data_timestamp, tz=UTC)
    assert r.readings == len(readings) - 1 and any("other units" in n for n in r.notes)


def test_dst_days_in_new_york():
    zone = "America/New_York"
    # Hourly at 1 GB/hour over the fall-back night of 2026-11-01 (a 25-hour day).
    start = at(2026, 11, 1, 4)  # local midnight
    readings = [reading(t, (t - start) / 3600) for t in range(start + 3600, start + 50 * 3600, 3600)]
    r = build_report(readings, now=readings[-1].data_timestamp, tz=zone)
    assert r.daily[0] == DailyUsage(D(2026, 11, 1), 25.0)
    assert r.daily[1] == DailyUsage(D(2026, 11, 2), 24.0)


# ---------------------------------------------------------------- text


def full_report():
    readings = series()
    return build_report(readings, now=readings[-1].data_timestamp, tz=UTC)


def test_text_report():
    text = render_text(full_report())
    assert "Used:          504 of 1229 GB (41.0%)" in text
    assert "Remaining:     725 GB" in text
    assert "Days:          10.5 elapsed, 19.5 left" in text
    assert "Average:       48.0 GB/day this cycle" in text
    assert "Last 24 hours: 48.0 GB/day" in text
    assert "Projected:     1440 GB at the end of the cycle (117% of the cap)" in text
    assert "(at the last-24-hour pace)" in text
    assert "Daily budget:  37.2 GB/day to stay within the cap" in text
    assert "11-01 Sun " + "#" * 52 in text
    assert "11-11 Wed " + "#" * 26 + " " in text
    assert "AA:02" in text and "2026-10-01 to 2026-10-31  1100 of 1229 GB (90%)" in text
    assert all(len(line) <= 72 for line in text.splitlines())
    assert text.isascii() and "\x1b" not in text and text.endswith("\n")


def test_text_report_unlimited_one_reading_and_none():
    r = build_report([], reading(at(2026, 11, 3), 96.0, total=None), now=at(2026, 11, 3), tz=UTC)
    text = render_text(r)
    assert "96.0 GB (unlimited plan)" in text and "Daily budget" not in text
    assert "Last 24 hours: not enough readings yet" in text
    assert "(at the cycle's average pace)" in text
    assert "Notes\n  - only one reading" in text
    assert all(len(line) <= 72 for line in text.splitlines())
    empty = render_text(build_report(None))
    assert "no figures" in empty and "no readings yet" in empty


def test_chart_of_zero_usage():
    readings = [reading(at(2026, 11, 1, 12), 0.0), reading(at(2026, 11, 2, 12), 0.0)]
    text = render_text(build_report(readings, now=at(2026, 11, 2, 12), tz=UTC))
    assert "11-01 Sun " in text and "#" not in text


# ---------------------------------------------------------------- Nagios


def report_at(used, projected, total=1229.0):
    return dataclasses.replace(Report.empty("GB", total, "unused"), used=used, projected=projected, notes=())


@pytest.mark.parametrize("on,used,projected,state", [
    ("projected", 500.0, 900.0, State.OK),          # 73% projected
    ("projected", 500.0, 1000.0, State.WARNING),    # 81%
    ("projected", 500.0, 1200.0, State.CRITICAL),   # 98%
    ("used", 500.0, 1200.0, State.OK),              # 41% used
    ("used", 1000.0, 1200.0, State.WARNING),
    ("used", 1150.0, 1300.0, State.CRITICAL),
])
def test_check_states(on, used, projected, state):
    got, line = check_state(report_at(used, projected), warn=80, crit=90, on=on)
    assert got == state
    assert line.startswith(f"XFINITY USAGE {state.name} - ")


def test_status_line_and_perfdata():
    state, line = check_state(report_at(812.0, 1304.0), warn=80, crit=110)
    assert state == State.WARNING
    assert line == ("XFINITY USAGE WARNING - 812 of 1229 GB (66%), projected 1304 GB (106%) | "
                    "used=812GB;;;0;1229 projected=1304GB;983.2;1351.9;0;1229")
    state, line = check_state(report_at(812.0, 1304.0), warn=80, crit=95, on="used")
    assert state == State.OK
    assert line.endswith("| used=812GB;983.2;1167.55;0;1229 projected=1304GB;;;0;1229")
    assert "\n" not in line and line.count("|") == 1


def test_threshold_is_exceeded_not_reached():
    assert check_state(report_at(983.2, 983.2), warn=80, on="used")[0] == State.OK
    assert check_state(report_at(983.3, 983.3), warn=80, on="used")[0] == State.WARNING


def test_only_one_threshold():
    assert check_state(report_at(500.0, 1200.0), crit=90)[0] == State.CRITICAL
    assert check_state(report_at(500.0, 1200.0), crit=99)[0] == State.OK
    state, line = check_state(report_at(500.0, 1200.0), warn=90)
    assert state == State.WARNING and "projected=1200GB;1106.1;;0;1229" in line


def test_no_thresholds_is_ok():
    state, line = check_state(full_report())
    assert state == State.OK
    assert line.startswith("XFINITY USAGE OK - 504 of 1229 GB (41%), projected 1440 GB (117%) | used=504GB;;;0;1229")


def test_unlimited_with_thresholds_is_ok_with_a_note():
    r = report_at(812.0, 1304.0, total=None)
    state, line = check_state(r, warn=80, crit=90)
    assert state == State.OK
    assert line == ("XFINITY USAGE OK - unlimited plan, no cap to compare against: 812 GB used "
                    "(unlimited plan), projected 1304 GB | used=812GB;;;0; projected=1304GB;;;0;")
    assert check_state(r)[0] == State.OK


def test_no_figure_is_unknown_and_no_projection_is_judged_on_the_usage_so_far():
    state, line = check_state(build_report(None), warn=80)
    assert state == State.UNKNOWN and "no readings yet" in line
    assert check_state(None, warn=80) == (State.UNKNOWN, "XFINITY USAGE UNKNOWN - no usage figure")
    state, line = check_state(report_at(0.0, None), warn=80)
    assert state == State.OK and "no projection yet, judged on the usage so far: " in line
    assert line.endswith("| used=0GB;983.2;;0;1229")
    state, line = check_state(report_at(1200.0, None), warn=80, crit=95)  # over the cap on its first day
    assert state == State.CRITICAL and "no projection yet" in line
    assert check_state(report_at(0.0, None), warn=80, on="used")[0] == State.OK


def test_unknown_status():
    assert unknown_status("site unavailable | try later\nagain") == (
        State.UNKNOWN, "XFINITY USAGE UNKNOWN - site unavailable / try later again")


@pytest.mark.parametrize("kwargs", [{"on": "total"}, {"warn": -1}, {"warn": 95, "crit": 90},
                                    {"crit": float("nan")}])
def test_bad_check_arguments(kwargs):
    with pytest.raises(ValueError):
        check_state(report_at(1.0, 2.0), **kwargs)


# ---------------------------------------------------------------- overage


def overage_raw(used, courtesy_remaining=0):
    """The usage JSON with the terms of real answers: 50 GB blocks at $10, at most $100."""
    data = raw(used)
    for month in data["usageMonths"]:
        month.update(additionalBlockSize=50, additionalCostPerBlock=10, maximumOverageCharge=100, overageCharges=0)
    data.update(courtesyUsed=1 - courtesy_remaining, courtesyRemaining=courtesy_remaining, courtesyAllowed=1)
    return data


def test_report_overage_over_the_cap_so_far_and_projected():
    r = reading_from_dict({"data_timestamp": at(2026, 11, 16), "units": "GB", "used": 1300.0, "total": 1229.0,
                           "raw": overage_raw(1300.0)})
    report = build_report([], r, now=at(2026, 11, 16), tz=UTC)
    assert report.overage is not None and report.overage.to_dict() == {
        "currency": "USD", "units": "GB", "over": 71.0, "charge": 20.0, "blocks": 2,
        "projected_over": 1371.0, "projected_charge": 100.0, "projected_blocks": 28,
        "block_size": 50.0, "cost_per_block": 10.0, "maximum_charge": 100.0,
        "courtesy_remaining": 0, "courtesy_applies": False}
    assert report.to_dict()["overage"] == report.overage.to_dict()
    assert report.charges == (20.0, 100.0)
    assert json.loads(json.dumps(report.to_dict())) == report.to_dict()
    text = render_text(report)
    assert ("Overage:       71.0 GB over the cap so far -> $20\n"
            "               projected 1371 GB over -> $100\n"
            "               (50 GB blocks at $10, max $100)\n") in text
    assert all(len(line) <= 72 for line in text.splitlines())
    assert "over the cap by 71.0 GB" in " ".join(report.notes)
    state, line = check_state(report, warn=80, crit=150)
    assert state == State.CRITICAL
    assert line == ("XFINITY USAGE CRITICAL - 1300 of 1229 GB (106%), projected 2600 GB (212%), overage $100 "
                    "projected | used=1300GB;;;0;1229 projected=2600GB;983.2;1843.5;0;1229 "
                    "overage_charge=20;;;0;100 projected_overage_charge=100;;;0;100")


def test_report_overage_waived_by_a_courtesy_credit():
    r = reading_from_dict({"data_timestamp": at(2026, 11, 16), "units": "GB", "used": 1300.0, "total": 1229.0,
                           "raw": overage_raw(1300.0, courtesy_remaining=1)})
    report = build_report([], r, now=at(2026, 11, 16), tz=UTC)
    assert (report.overage.charge, report.overage.projected_charge) == (0.0, 0.0)
    assert report.overage.courtesy_applies is True
    assert "71.0 GB over the cap so far -> $0, courtesy credit left: 1\n" in render_text(report)


def test_report_without_terms_or_readings_has_no_overage(tmp_path):
    readings = series()  # their answers carry no terms
    report = build_report(readings[:-1], readings[-1], now=readings[-1].data_timestamp, tz=UTC)
    assert report.overage is None and "Overage" not in render_text(report)
    assert "overage" not in check_state(report)[1]
    assert build_report([]).overage is None
    # the history keeps no answer: a report from it alone has no terms, so no overage
    store = HistoryStore(str(tmp_path / "h.sqlite3"))
    r = reading_from_dict({"data_timestamp": at(2026, 11, 16), "units": "GB", "used": 1300.0, "total": 1229.0,
                           "raw": overage_raw(1300.0)})
    store.record(r)
    assert build_report(store, r, now=at(2026, 11, 16), tz=UTC).overage.charge == 20.0
    assert build_report(store, now=at(2026, 11, 16), tz=UTC).overage is None
