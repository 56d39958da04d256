"""tests/test_checkout.py, run against SQLite (see conftest.py)."""

from tests.test_checkout import *  # noqa: F403
