"""tests/test_unapplied_payments.py, run against SQLite (see conftest.py)."""

from tests.test_unapplied_payments import *  # noqa: F403
