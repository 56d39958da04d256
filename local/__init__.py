"""The whole payment flow on one machine, without cloud accounts or Docker (`make dev`, `make demo`).

Development tooling only: nothing here is deployed. The functions run unchanged, called with HTTP API v2 events
exactly as on Lambda; Stripe is the stateful double from the tests served over HTTP; ID tokens are Firebase Auth
emulator tokens; the database is a SQLite file unless DATABASE_URL names another.
"""
