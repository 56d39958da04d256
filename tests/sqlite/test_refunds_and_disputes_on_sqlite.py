"""tests/test_refunds_and_disputes.py, run against SQLite (see conftest.py)."""

from tests.test_refunds_and_disputes import *  # noqa: F403
