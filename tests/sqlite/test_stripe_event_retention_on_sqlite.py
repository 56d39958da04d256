"""tests/test_stripe_event_retention.py, run against SQLite (see conftest.py)."""

from tests.test_stripe_event_retention import *  # noqa: F403
