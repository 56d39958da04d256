"""tests/test_stripe_answers.py, run against SQLite (see conftest.py)."""

from tests.test_stripe_answers import *  # noqa: F403
