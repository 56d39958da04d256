"""tests/test_invoice_states.py, run against SQLite (see conftest.py)."""

from tests.test_invoice_states import *  # noqa: F403
