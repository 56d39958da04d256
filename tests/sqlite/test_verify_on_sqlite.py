"""tests/test_verify.py, run against SQLite (see conftest.py)."""

from tests.test_verify import *  # noqa: F403
