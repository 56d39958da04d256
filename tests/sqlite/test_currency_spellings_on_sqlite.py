"""tests/test_currency_spellings.py, run against SQLite (see conftest.py)."""

from tests.test_currency_spellings import *  # noqa: F403
