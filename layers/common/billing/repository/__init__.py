"""Data access: every SQL statement the functions run is here, behind small typed functions, one module per table
(or per rule that reads several: `contacts`, `listing`), built from `sql`.

State changes are single conditional UPDATEs (the WHERE clause states the transition's precondition), so
concurrent writers cannot both win: PostgreSQL re-checks the WHERE clause of a row another transaction just
changed, and the loser's UPDATE matches no row.

The statements of the warm paths are built once, with bound parameters, and only executed per request: building
a SQLAlchemy statement and computing its cache key costs more (30 to 80 µs) than a round trip to the database.
Records are NamedTuples: as immutable as frozen dataclasses, and defining one costs a cold start a fraction of
what a dataclass costs (its generated methods are compiled at import, ~0.6 ms each).

Each function imports only the modules its route needs (docs/PERFORMANCE.md): nothing is re-exported here.
"""
