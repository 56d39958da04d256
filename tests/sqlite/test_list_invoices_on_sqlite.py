"""tests/test_list_invoices.py, run against SQLite (see conftest.py)."""

from tests.test_list_invoices import *  # noqa: F403
