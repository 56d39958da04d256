"""tests/test_missed_events.py, run against SQLite (see conftest.py)."""

from tests.test_missed_events import *  # noqa: F403
