"""Per-day spreading, rates, projection and budget on hand-made reading series."""
import datetime
import zoneinfo

import pytest

from xfinity_usage.reading import Reading
from xfinity_usage.history.projection import (
    BASIS_CYCLE_AVERAGE,
    BASIS_LAST_24H,
    DayUsage,
    average_per_day,
    cycle_bounds,
    daily_budget,
    daily_usage,
    days_elapsed_and_left,
    midnight,
    project,
    project_end_of_cycle,
    rate_last_24h,
    resolve_tz,
)

UTC = datetime.timezone.utc
NY = zoneinfo.ZoneInfo("America/New_York")
D = datetime.date
H = 3600


def at(*args, tz=UTC):
    return datetime.datetime(*args, tzinfo=tz).timestamp()


def r(timestamp, used):
    """A reading that names no cycle (its time decides)."""
    return Reading(used=used, total=None, units="GB", data_timestamp=int(timestamp))


def stored(timestamp, start, end, used, total, units):
    """A reading as the history gives it back, with its cycle."""
    return Reading(used=used, total=total, units=units, data_timestamp=timestamp, cycle_start=start,
                   cycle_end=end, source="history")


def usage(days):
    return {d.date.isoformat(): round(d.usage, 6) for d in days}


NOV = (D(2026, 11, 1), D(2026, 11, 30))


# ---------------------------------------------------------------- daily_usage


def test_no_readings_no_days():
    assert daily_usage([], *NOV, tz=UTC) == []


def test_one_reading_is_spread_from_the_cycle_start():
    days = daily_usage([r(at(2026, 11, 3, 12), 60.0)], *NOV, tz=UTC)
    assert usage(days) == {"2026-11-01": 24.0, "2026-11-02": 24.0, "2026-11-03": 12.0}
    assert isinstance(days[0], DayUsage) and days[0].date == D(2026, 11, 1)


def test_delta_over_midnight_is_split_by_hours():
    readings = [r(at(2026, 11, 1, 22), 10.0), r(at(2026, 11, 2, 2), 14.0)]
    assert usage(daily_usage(readings, *NOV, tz=UTC)) == {"2026-11-01": 12.0, "2026-11-02": 2.0}


def test_regular_readings_add_up_to_the_latest_figure():
    readings = [r(at(2026, 11, 1) + i * 1800, 0.5 * i) for i in range(1, 200)]
    days = daily_usage(readings, *NOV, tz=UTC)
    assert len(days) == 5
    assert sum(d.usage for d in days) == pytest.approx(99.5)
    assert [d.usage for d in days[:4]] == pytest.approx([24.0] * 4)


def test_gap_of_days_is_spread_evenly():
    readings = [r(at(2026, 11, 2), 10.0), r(at(2026, 11, 5), 40.0), r(at(2026, 11, 5, 6), 43.0)]
    assert usage(daily_usage(readings, *NOV, tz=UTC)) == {
        "2026-11-01": 10.0, "2026-11-02": 10.0, "2026-11-03": 10.0, "2026-11-04": 10.0, "2026-11-05": 3.0}


def test_a_reading_that_goes_down_is_a_correction_never_negative():
    readings = [r(at(2026, 11, 1, 12), 100.0), r(at(2026, 11, 2, 12), 120.0),
                r(at(2026, 11, 3, 12), 110.0), r(at(2026, 11, 4, 12), 130.0)]
    days = daily_usage(readings, *NOV, tz=UTC)
    assert all(d.usage >= 0 for d in days)
    # 100 + 20 + 0 (correction) + 20 (from the corrected base of 110)
    assert sum(d.usage for d in days) == pytest.approx(140.0)
    assert usage(days) == {"2026-11-01": 110.0, "2026-11-02": 10.0, "2026-11-03": 10.0, "2026-11-04": 10.0}


def test_cycle_change_resets():
    readings = [
        stored(int(at(2026, 10, 31, 12)), D(2026, 10, 1), D(2026, 10, 31), 1000.0, 1229.0, "GB"),
        stored(int(at(2026, 10, 31, 23)), D(2026, 10, 1), D(2026, 10, 31), 1011.0, 1229.0, "GB"),
        stored(int(at(2026, 11, 1, 6)), D(2026, 11, 1), D(2026, 11, 30), 3.0, 1229.0, "GB"),
        stored(int(at(2026, 11, 2, 6)), D(2026, 11, 1), D(2026, 11, 30), 27.0, 1229.0, "GB"),
    ]
    assert usage(daily_usage(readings, *NOV, tz=UTC)) == {"2026-11-01": 21.0, "2026-11-02": 6.0}
    october = daily_usage(readings, D(2026, 10, 1), D(2026, 10, 31), tz=UTC)
    assert len(october) == 31 and october[-1].usage == pytest.approx(1000.0 / 30.5 * 0.5 + 11.0)


def test_cycle_change_without_cycle_labels_goes_by_time():
    readings = [r(at(2026, 10, 31, 12), 1000.0), r(at(2026, 11, 1, 6), 3.0), r(at(2026, 11, 1, 12), 5.0)]
    assert usage(daily_usage(readings, *NOV, tz=UTC)) == {"2026-11-01": 5.0}


def test_reading_after_the_cycle_end_counts_on_its_last_day():
    # The site may still show the old month for a while after it ends.
    readings = [stored(int(at(2026, 11, 30, 12)), *NOV, 100.0, None, "GB"),
                stored(int(at(2026, 12, 1, 3)), *NOV, 110.0, None, "GB")]
    days = daily_usage(readings, *NOV, tz=UTC)
    assert days[-1] == DayUsage(D(2026, 11, 30), pytest.approx(100.0 / 29.5 * 0.5 + 10.0))
    assert len(days) == 30
    readings.append(stored(int(at(2026, 12, 1, 9)), *NOV, 115.0, None, "GB"))
    assert daily_usage(readings, *NOV, tz=UTC)[-1].usage == pytest.approx(100.0 / 29.5 * 0.5 + 15.0)


def test_spring_forward_day_has_23_hours():
    cycle = (D(2026, 3, 1), D(2026, 3, 31))
    readings = [r(at(2026, 3, 7, tz=NY), 100.0), r(at(2026, 3, 10, tz=NY), 171.0)]  # 24 + 23 + 24 hours
    days = usage(daily_usage(readings, *cycle, tz=NY))
    assert (days["2026-03-07"], days["2026-03-08"], days["2026-03-09"]) == (24.0, 23.0, 24.0)
    assert days["2026-03-01"] == pytest.approx(100.0 / 6)


def test_fall_back_day_has_25_hours():
    cycle = (D(2026, 10, 15), D(2026, 11, 14))
    readings = [r(at(2026, 10, 31, tz=NY), 0.0), r(at(2026, 11, 3, tz=NY), 73.0)]  # 24 + 25 + 24 hours
    days = usage(daily_usage(readings, *cycle, tz=NY))
    assert (days["2026-10-31"], days["2026-11-01"], days["2026-11-02"]) == (24.0, 25.0, 24.0)
    assert days["2026-10-15"] == 0.0


def test_time_zone_by_name_and_local_default():
    readings = [r(at(2026, 11, 2, 3), 10.0)]  # Nov 1, 22:00 in New York
    assert daily_usage(readings, *NOV, tz="America/New_York")[-1].date == D(2026, 11, 1)
    assert daily_usage(readings, *NOV)  # local time zone: some answer, no error
    with pytest.raises(ValueError):
        resolve_tz("Not/A_Zone")


def test_reading_order_duplicates_and_figureless_ones():
    t1, t2 = at(2026, 11, 1, 12), at(2026, 11, 2, 12)
    shapes = [
        [r(t2, 30.0), r(t1, 12.0)],
        [r(t1, 12.0), stored(int(t2), *NOV, 30.0, None, "GB")],
        [r(t1, 12.0), r(t2, 999.0), r(t2, 30.0), r(t1 + 60, None)],
    ]
    expected = usage(daily_usage([r(t1, 12.0), r(t2, 30.0)], *NOV, tz=UTC))
    assert expected == {"2026-11-01": 21.0, "2026-11-02": 9.0}
    for readings in shapes:
        assert usage(daily_usage(readings, *NOV, tz=UTC)) == expected


# ---------------------------------------------------------------- rates


def test_rate_last_24h_steady():
    readings = [r(at(2026, 11, 1) + i * 1800, 1.0 * i) for i in range(1, 120)]  # 2 GB/hour
    assert rate_last_24h(readings) == pytest.approx(48.0)


def test_rate_last_24h_uses_only_the_last_day():
    readings = [r(at(2026, 11, 1, 12), 10.0), r(at(2026, 11, 2, 12), 20.0), r(at(2026, 11, 3, 12), 80.0)]
    assert rate_last_24h(readings) == pytest.approx(60.0)
    # readings after `now` are ignored
    assert rate_last_24h(readings, now=at(2026, 11, 3)) == pytest.approx(10.0)


def test_rate_last_24h_interpolates_a_sparse_window():
    readings = [r(at(2026, 11, 1, 12), 10.0), r(at(2026, 11, 2, 18), 40.0)]  # 30 hours apart
    assert rate_last_24h(readings) == pytest.approx(30.0 * 24 / 30)


def test_rate_last_24h_needs_a_day_of_data():
    assert rate_last_24h([]) is None
    assert rate_last_24h([r(at(2026, 11, 2), 5.0)]) is None
    assert rate_last_24h([r(at(2026, 11, 2), 5.0), r(at(2026, 11, 2, 20), 9.0)]) is None
    # a point too old gives a long average, not a last-24-hour rate
    assert rate_last_24h([r(at(2026, 11, 2), 5.0), r(at(2026, 11, 4, 12), 9.0)]) is None


def test_rate_last_24h_counts_the_cycle_start_as_zero():
    readings = [r(at(2026, 11, 1, 18), 9.0), r(at(2026, 11, 2, 6), 30.0)]
    assert rate_last_24h(readings) is None
    # 6 of the 9 before 18:00 fall after 06:00 on Nov 1, then 21 more
    assert rate_last_24h(readings, cycle_start=NOV[0], cycle_end=NOV[1], tz=UTC) == pytest.approx(27.0)


def test_rate_last_24h_ignores_a_correction():
    readings = [r(at(2026, 11, 1), 100.0), r(at(2026, 11, 1, 12), 112.0), r(at(2026, 11, 1, 13), 90.0),
                r(at(2026, 11, 2), 101.0)]
    assert rate_last_24h(readings) == pytest.approx(12.0 + 11.0)


def test_rate_last_24h_over_a_cycle_change():
    readings = [
        stored(int(at(2026, 10, 31, 6)), D(2026, 10, 1), D(2026, 10, 31), 1000.0, None, "GB"),
        stored(int(at(2026, 11, 1, 6)), *NOV, 6.0, None, "GB"),
    ]
    assert rate_last_24h(readings, cycle_start=NOV[0], cycle_end=NOV[1], tz=UTC) is None
    readings.append(stored(int(at(2026, 11, 2, 0)), *NOV, 30.0, None, "GB"))
    assert rate_last_24h(readings, cycle_start=NOV[0], cycle_end=NOV[1], tz=UTC) == pytest.approx(30.0)


def test_average_per_day():
    assert average_per_day(60.0, NOV[0], at(2026, 11, 3, 12), tz=UTC) == pytest.approx(24.0)
    assert average_per_day(0.0, NOV[0], at(2026, 11, 1), tz=UTC) is None
    assert average_per_day(5.0, NOV[0], at(2026, 10, 31), tz=UTC) is None


def test_average_per_day_across_dst_uses_real_time():
    # 2026-03-08 has 23 hours in New York: 48 real hours have passed by March 10, 01:00.
    assert average_per_day(48.0, D(2026, 3, 8), at(2026, 3, 10, 1, tz=NY), tz=NY) == pytest.approx(24.0)


# ---------------------------------------------------------------- projection and budget


def test_project_end_of_cycle():
    assert project_end_of_cycle(100.0, 10.0, at(2026, 11, 21), NOV[1], tz=UTC) == pytest.approx(200.0)
    assert project_end_of_cycle(100.0, 10.0, at(2026, 12, 3), NOV[1], tz=UTC) == 100.0


def test_project_prefers_the_last_24h():
    p = project(100.0, at(2026, 11, 21), NOV[1], rate_24h=20.0, average=5.0, tz=UTC)
    assert (p.projected, p.basis, p.rate_per_day, p.notes) == (pytest.approx(300.0), BASIS_LAST_24H, 20.0, [])


def test_project_falls_back_to_the_average():
    p = project(100.0, at(2026, 11, 21), NOV[1], rate_24h=None, average=5.0, tz=UTC)
    assert (p.projected, p.basis, p.rate_per_day) == (pytest.approx(150.0), BASIS_CYCLE_AVERAGE, 5.0)
    assert "24 hours" in p.notes[0]


def test_project_without_any_pace():
    p = project(0.0, at(2026, 11, 1), NOV[1], rate_24h=None, average=None, tz=UTC)
    assert (p.projected, p.basis, p.rate_per_day) == (None, None, None) and p.notes


@pytest.mark.parametrize("remaining,days_left,budget", [
    (300.0, 10.0, 30.0),
    (-50.0, 10.0, 0.0),      # over the cap
    (30.0, 0.25, 30.0),      # last hours: it can all go today
    (30.0, 0.0, None),       # cycle over
])
def test_daily_budget(remaining, days_left, budget):
    assert daily_budget(remaining, days_left) == budget


def test_days_elapsed_and_left():
    assert days_elapsed_and_left(*NOV, at(2026, 11, 11, 12), tz=UTC) == (10.5, 19.5)
    assert days_elapsed_and_left(*NOV, at(2026, 10, 20), tz=UTC) == (0.0, 30.0)
    assert days_elapsed_and_left(*NOV, at(2026, 12, 20), tz=UTC) == (30.0, 0.0)
    # November 2026 in New York has one 25-hour day
    elapsed, left = days_elapsed_and_left(*NOV, at(2026, 11, 30, 12, tz=NY), tz=NY)
    assert elapsed + left == pytest.approx(30 + 1 / 24)


def test_cycle_bounds_and_midnight():
    start, end = cycle_bounds(*NOV, tz=NY)
    assert start == midnight(NOV[0], NY) == at(2026, 11, 1, 4)
    assert end == at(2026, 12, 1, 5)
