"""The history of readings and what it tells: the SQLite store (:mod:`.store`), projections
(:mod:`.projection`), the overage charge (:mod:`.overage`) and the report (:mod:`.report`).
It knows readings, never a route or a sink."""
