"""tests/test_contacts.py, run against SQLite (see conftest.py)."""

from tests.test_contacts import *  # noqa: F403
