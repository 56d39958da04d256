"""Fixtures of the local tools' tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.db import create_database_engine
from harness.database import migrate
from local import seed
from local.stack import sqlite_url


@pytest.fixture
def seeded(tmp_path: Path) -> str:
    """The URL of a SQLite file in tmp_path (where `make dev` would keep it), migrated and seeded."""
    url = sqlite_url(tmp_path)
    migrate(url)
    engine = create_database_engine(url)
    seed.seed(engine)
    engine.dispose()
    return url
