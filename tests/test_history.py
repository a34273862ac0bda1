"""The SQLite history: paths, permissions, records, migration, concurrency."""
import datetime
import multiprocessing
import os
import shutil
import sqlite3
import stat

import pytest

from xfinity_usage.history.store import (
    SCHEMA_VERSION,
    HistoryError,
    HistoryStore,
    Reading,
    cycle_of,
    default_history_path,
)
from xfinity_usage.sources.usage import reading_from_dict, reading_from_json

from .fixtures_clock import local_zone

UTC = datetime.timezone.utc
FIXTURE = os.path.join(os.path.dirname(__file__), "data", "history-v1.sqlite3")


def ts(*args):
    return int(datetime.datetime(*args, tzinfo=UTC).timestamp())


def month(start, end, used, total=1229.0, devices=None, policy="limited", units="GB"):
    return {"startDate": start, "endDate": end, "homeUsage": used, "allowableUsage": total,
            "unitOfMeasure": units, "policy": policy, "devices": devices}


RAW = {"usageMonths": [
    month("09/01/2026", "09/30/2026", 1100.0),
    month("2026-10-01", "2026-10-31", 950.5),
    month("01-NOV-2026", "30-NOV-2026", 212.0, devices=[{"id": "AA:01", "usage": 200.0},
                                                          {"id": "AA:02", "usage": 12.0}]),
]}


def reading(timestamp, used, total=1229.0, raw=RAW):
    return reading_from_dict({"data_timestamp": timestamp, "units": "GB", "used": used, "total": total, "raw": raw})



@pytest.fixture(autouse=True)
def utc_is_the_local_zone():
    """``reading_from_dict`` dates a reading in the local zone, and these tests date them in UTC (``tz=UTC``):
    UTC is the local zone here, whatever the machine's."""
    with local_zone("UTC"):
        yield


@pytest.fixture
def store(tmp_path):
    with HistoryStore(str(tmp_path / "h.sqlite3"), tz=UTC) as s:
        yield s


# ---------------------------------------------------------------- paths


def test_default_path_uses_xdg_data_home():
    assert default_history_path({"XDG_DATA_HOME": "/x/data", "HOME": "/home/u"}) == \
        "/x/data/xfinity-usage/history.sqlite3"


@pytest.mark.parametrize("env", [{"HOME": "/home/u"}, {"HOME": "/home/u", "XDG_DATA_HOME": ""},
                                 {"HOME": "/home/u", "XDG_DATA_HOME": "relative/dir"}])
def test_default_path_falls_back_to_local_share(env):
    assert default_history_path(env) == "/home/u/.local/share/xfinity-usage/history.sqlite3"


def test_default_path_reads_but_never_changes_environ(monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", "/somewhere")
    before = dict(os.environ)
    assert default_history_path() == "/somewhere/xfinity-usage/history.sqlite3"
    assert dict(os.environ) == before


# ---------------------------------------------------------------- files


def test_creates_private_directory_and_file(tmp_path):
    path = tmp_path / "data" / "xfinity-usage" / "history.sqlite3"
    old = os.umask(0)
    try:
        with HistoryStore(str(path)) as s:
            s.record(reading(ts(2026, 11, 5), 100.0))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    for extra in ("-wal", "-shm"):
        if os.path.exists(str(path) + extra):
            assert stat.S_IMODE(os.stat(str(path) + extra).st_mode) & 0o077 == 0


def test_wal_mode_and_schema_version(store):
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == store.schema_version()
    db.close()


def test_not_a_database(tmp_path):
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"this is not sqlite, just some text that is long enough" * 20)
    with pytest.raises(HistoryError, match="junk.sqlite3"):
        HistoryStore(str(path))


def test_newer_schema_is_refused(tmp_path):
    path = str(tmp_path / "future.sqlite3")
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(HistoryError, match="newer"):
        HistoryStore(path)


def test_memory_store():
    with HistoryStore(":memory:") as s:
        assert s.record(reading(ts(2026, 11, 5), 1.0))
        assert len(s.readings()) == 1


# ---------------------------------------------------------------- records


def test_record_and_read_back(store):
    t = ts(2026, 11, 5, 12)
    assert store.record(reading(t, 212.0)) is True
    [r] = store.readings()
    assert r == Reading(used=212.0, total=1229.0, units="GB", data_timestamp=t,
                        cycle_start=datetime.date(2026, 11, 1), cycle_end=datetime.date(2026, 11, 30),
                        devices={"AA:01": 200.0, "AA:02": 12.0}, source="history")
    assert r.to_dict()["cycle_start"] == "2026-11-01"
    assert store.latest() == r


def test_record_is_idempotent_for_a_timestamp(store):
    t = ts(2026, 11, 5, 12)
    assert store.record(reading(t, 212.0))
    assert store.record(reading(t, 212.0)) is False
    assert store.record(reading(t, 999.0)) is False
    assert [r.used for r in store.readings()] == [212.0]
    assert store.readings()[0].devices == {"AA:01": 200.0, "AA:02": 12.0}


def test_reading_without_usage_is_not_stored(store):
    assert store.record(reading_from_dict({"data_timestamp": ts(2026, 11, 5), "units": "GB", "used": None,
                                           "total": None, "raw": {}})) is False
    assert store.readings() == []


def test_unlimited_reading(store):
    raw = {"usageMonths": [month("11/01/2026", "11/30/2026", 50.0, total=0, policy="unlimited")]}
    store.record(reading(ts(2026, 11, 5), 50.0, total=None, raw=raw))
    assert store.readings()[0].total is None
    assert store.monthly_totals()[0].total is None


def test_readings_filters(store):
    times = [ts(2026, 10, 30), ts(2026, 10, 31, 12), ts(2026, 11, 1, 6), ts(2026, 11, 2)]
    for t, used in zip(times, [900.0, 950.5, 3.0, 20.0]):
        store.record(reading(t, used))
    assert [r.used for r in store.readings(cycle_start=datetime.date(2026, 11, 1))] == [3.0, 20.0]
    assert [r.used for r in store.readings(cycle_start="2026-10-01")] == [900.0, 950.5]
    assert [r.used for r in store.readings(since=times[1])] == [950.5, 3.0, 20.0]
    assert [r.used for r in store.readings("2026-10-01", since=times[1])] == [950.5]
    assert store.readings(cycle_start="2025-01-01") == []


def test_cycle_is_the_readings_own_else_the_calendar_month():
    r = reading(ts(2026, 12, 3), 5.0)  # after the last month: the latest one
    assert cycle_of(r, UTC) == (datetime.date(2026, 11, 1), datetime.date(2026, 11, 30))
    scraped = {"source": "usage-page", "meterText": "...", "usageRows": []}
    r = reading(ts(2028, 2, 10), 5.0, raw=scraped)
    assert (r.cycle_start, r.devices) == (None, {})
    assert cycle_of(r, UTC) == (datetime.date(2028, 2, 1), datetime.date(2028, 2, 29))


def test_calendar_cycle_uses_the_time_zone():
    t = ts(2026, 11, 1, 2)  # still October 31 in New York
    from dateutil import tz
    r = reading(t, 5.0, raw=None)
    assert cycle_of(r, UTC)[0] == datetime.date(2026, 11, 1)
    assert cycle_of(r, tz.gettz("America/New_York"))[0] == datetime.date(2026, 10, 1)


def test_bad_devices_are_skipped():
    raw = {"usageMonths": [month("11/01/2026", "11/30/2026", 5.0, devices=[
        {"id": "ok", "usage": 1.5}, {"id": "none", "usage": None}, {"usage": 3.0}, "junk"])]}
    assert reading(ts(2026, 11, 5), 5.0, raw=raw).devices == {"ok": 1.5}


# ---------------------------------------------------------------- months


def test_past_months_without_a_figure_are_left_out():
    raw = {"usageMonths": [month("12/01/2026", "12/31/2026", None), month("10/01/2026", "10/31/2026", 7.0),
                           month("11/01/2026", "11/30/2026", 5.0)]}
    r = reading_from_json(raw, now=ts(2026, 11, 5))
    assert [(m.start, m.used) for m in r.months] == [(datetime.date(2026, 10, 1), 7.0),
                                                     (datetime.date(2026, 11, 1), 5.0)]
    assert reading(ts(2026, 11, 5), 5.0, raw=None).months == ()


def test_import_months_before_any_reading(store):
    assert store.import_months(reading_from_json(RAW, now=1000)) == 3
    totals = store.monthly_totals()
    assert [(m.start.isoformat(), m.used, m.total) for m in totals] == [
        ("2026-09-01", 1100.0, 1229.0), ("2026-10-01", 950.5, 1229.0), ("2026-11-01", 212.0, 1229.0)]
    assert store.readings() == []


def test_import_months_keeps_the_newer_figure(store):
    store.import_months(reading_from_json(RAW, now=2000))
    older = {"usageMonths": [month("10/01/2026", "10/31/2026", 10.0)]}
    store.import_months(reading_from_json(older, now=1000))
    assert store.monthly_totals()[1].used == 950.5


def test_monthly_totals_prefer_the_latest_reading(store):
    store.import_months(reading_from_json(RAW, now=ts(2026, 11, 5)))
    store.record(reading(ts(2026, 11, 6), 230.0), months=False)
    store.record(reading(ts(2026, 12, 2), 3.0, raw={"usageMonths": [month("12/01/2026", "12/31/2026", 3.0)]}),
                 months=False)
    totals = {m.start.isoformat(): m.used for m in store.monthly_totals()}
    assert totals == {"2026-09-01": 1100.0, "2026-10-01": 950.5, "2026-11-01": 230.0, "2026-12-01": 3.0}


def test_record_imports_months_in_the_same_transaction(store):
    store.record(reading(ts(2026, 11, 5), 212.0))
    assert [m.start.isoformat() for m in store.monthly_totals()] == ["2026-09-01", "2026-10-01", "2026-11-01"]


def test_notify_state_is_kept_per_key(tmp_path):
    path = str(tmp_path / "h.sqlite3")
    with HistoryStore(path, tz=UTC) as s:
        assert s.notify_state("a") is None
        s.set_notify_state("a", "WARNING", 100.0)
        s.set_notify_state("b", "OK", 50.0)
        s.set_notify_state("a", "CRITICAL", 200.0)
    with HistoryStore(path, tz=UTC) as s:  # kept across opens, as cron runs need
        assert s.notify_state("a") == ("CRITICAL", 200.0)
        assert s.notify_state("b") == ("OK", 50.0)


# ---------------------------------------------------------------- migration


def test_migrates_the_v1_fixture(tmp_path):
    path = str(tmp_path / "history.sqlite3")
    shutil.copyfile(FIXTURE, path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.close()
    with HistoryStore(path, tz=UTC) as s:
        assert s.schema_version() == SCHEMA_VERSION
        rows = s.readings()
        assert [r.used for r in rows] == [1001.5, 1010.0, 1021.25, 4.0, 12.5]
        assert rows[0].devices == {"AA:BB:CC:DD:EE:01": 700.0, "AA:BB:CC:DD:EE:02": 301.5}
        assert rows[2].devices == {}
        assert rows[4].devices == {"AA:BB:CC:DD:EE:01": 10.0, "AA:BB:CC:DD:EE:02": 2.5}
        assert {r.cycle_start.isoformat() for r in rows} == {"2026-10-01", "2026-11-01"}
        assert [(m.start.isoformat(), m.used) for m in s.monthly_totals()] == [
            ("2026-10-01", 1021.25), ("2026-11-01", 12.5)]
        assert s.record(reading(ts(2026, 11, 3), 30.0))
        assert len(s.readings(cycle_start="2026-11-01")) == 3
        assert s.notify_state("k") is None  # v3's table exists, empty
    with HistoryStore(path, tz=UTC) as s:  # a second open is a no-op
        assert len(s.readings()) == 6


def test_fixture_is_untouched():
    db = sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.close()


# ---------------------------------------------------------------- concurrency

BASE = ts(2026, 11, 1, 0, 30)


def _writer(path, worker, count, start):
    start.wait(30)
    with HistoryStore(path, timeout=60, tz=UTC) as s:
        for i in range(count):
            t = BASE + (worker * count + i) * 60
            s.record(reading(t, float(worker * count + i)))
            s.record(reading(BASE - 60, 0.5))  # every worker also races on one shared timestamp


def test_concurrent_processes_lose_nothing(tmp_path):
    path = str(tmp_path / "shared" / "history.sqlite3")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    workers, count = 4, 25
    procs = [ctx.Process(target=_writer, args=(path, w, count, start)) for w in range(workers)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * workers
    with HistoryStore(path, tz=UTC) as s:
        rows = s.readings()
        assert len(rows) == workers * count + 1
        assert sorted(r.used for r in rows if r.data_timestamp != BASE - 60) == [float(i) for i in range(100)]
        assert all(r.devices == {"AA:01": 200.0, "AA:02": 12.0} for r in rows)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_a_figure_not_for_display_yet_is_not_stored(store):
    import dataclasses

    hidden = dataclasses.replace(reading(ts(2026, 11, 1, 6), 900.0), display_usage=False)
    assert store.record(hidden) is False
    assert store.readings() == []
    assert store.record(reading(ts(2026, 11, 1, 12), 2.0)) is True
