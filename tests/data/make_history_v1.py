"""Write history-v1.sqlite3: a history file as schema version 1 left it.

Version 1 kept per-device usage as a JSON text column of ``readings`` and
had no ``months`` table. The DDL is frozen here on purpose: it must not
follow the library's current schema. Run from this directory::

    python make_history_v1.py
"""
import json
import os
import sqlite3

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.join(HERE, "history-v1.sqlite3")


def rows():
    # 2026-10-30 12:00 UTC, then every 12 hours; the cycle changes on Nov 1.
    start = 1793361600
    cycle_oct = ("2026-10-01", "2026-10-31")
    cycle_nov = ("2026-11-01", "2026-11-30")
    data = [
        (start, cycle_oct, 1001.5, {"AA:BB:CC:DD:EE:01": 700.0, "AA:BB:CC:DD:EE:02": 301.5}),
        (start + 43200, cycle_oct, 1010.0, {"AA:BB:CC:DD:EE:01": 705.0, "AA:BB:CC:DD:EE:02": 305.0}),
        (start + 2 * 43200, cycle_oct, 1021.25, None),
        (start + 4 * 43200, cycle_nov, 4.0, {"AA:BB:CC:DD:EE:01": 4.0}),
        (start + 5 * 43200, cycle_nov, 12.5, {"AA:BB:CC:DD:EE:01": 10.0, "AA:BB:CC:DD:EE:02": 2.5}),
    ]
    for timestamp, (cycle_start, cycle_end), used, devices in data:
        yield (timestamp, cycle_start, cycle_end, used, 1229.0, "GB",
               None if devices is None else json.dumps(devices))


def main():
    if os.path.exists(PATH):
        os.unlink(PATH)
    db = sqlite3.connect(PATH)
    db.execute(
        "CREATE TABLE readings ("
        " timestamp INTEGER PRIMARY KEY,"
        " cycle_start TEXT NOT NULL,"
        " cycle_end TEXT NOT NULL,"
        " used REAL NOT NULL,"
        " total REAL,"
        " units TEXT NOT NULL,"
        " devices TEXT)"
    )
    db.executemany("INSERT INTO readings VALUES (?, ?, ?, ?, ?, ?, ?)", list(rows()))
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()


if __name__ == "__main__":
    main()
