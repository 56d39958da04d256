"""tests/test_webhook.py, run against SQLite (see conftest.py)."""

from tests.test_webhook import *  # noqa: F403
