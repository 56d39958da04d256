"""Each driver's tuning (billing/db_pg8000.py, billing/db_sqlite.py) refuses a driver version it was not written
for, so that an upgrade fails loudly at the first engine instead of quietly changing what a patch reaches into.
Making an engine opens no connection: no database here."""

from __future__ import annotations

import re
from pathlib import Path

import pg8000
import pytest

from billing import db_pg8000, db_sqlite
from billing.db import create_database_engine
from billing.errors import ConfigurationError, UncheckedDriver

LAYER_REQUIREMENTS = Path(__file__).resolve().parents[2] / "layers" / "common" / "requirements.txt"


def test_the_pg8000_tuning_was_written_for_the_pinned_pg8000() -> None:
    pinned = re.search(r"^pg8000==(\S+)$", LAYER_REQUIREMENTS.read_text(), re.MULTILINE)
    assert pinned is not None and pinned[1] == db_pg8000.WRITTEN_FOR_PG8000
    assert pg8000.__version__ == db_pg8000.WRITTEN_FOR_PG8000  # what the virtualenv installed from that pin


@pytest.mark.parametrize("installed", ["1.31.7", "1.32.0", "2.0.0", "1.31.5", "1.31"])
def test_another_pg8000_is_refused(installed: str) -> None:
    with pytest.raises(UncheckedDriver, match=f"pg8000 {re.escape(installed)} is installed"):
        db_pg8000.check_driver(installed)


def test_no_engine_is_made_on_an_unchecked_pg8000(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg8000, "__version__", "1.32.0")
    with pytest.raises(UncheckedDriver, match=r"billing/db_pg8000\.py was written for 1\.31\.6"):
        create_database_engine("postgresql+pg8000://billing@127.0.0.1:5432/billing")


def test_an_engine_is_made_on_the_checked_pg8000() -> None:
    engine = create_database_engine("postgresql+pg8000://billing@127.0.0.1:5432/billing")
    assert engine.dialect.driver == "pg8000"
    engine.dispose()


@pytest.mark.parametrize(
    ("python", "sqlite", "refusal"),
    [
        ((3, 13), (3, 46, 1), None),
        ((3, 11), (3, 35, 0), None),
        ((3, 12), (3, 40, 1), None),
        ((3, 14), (3, 46, 1), UncheckedDriver),  # a sqlite3 module nobody checked the tuning against
        ((3, 10), (3, 46, 1), UncheckedDriver),
        ((3, 13), (3, 34, 1), ConfigurationError),  # no UPDATE ... RETURNING
    ],
)
def test_the_sqlite_tuning_checks_the_sqlite3_module_and_the_library(
    python: tuple[int, int], sqlite: tuple[int, ...], refusal: type[Exception] | None
) -> None:
    if refusal is None:
        db_sqlite.check_driver(python, sqlite)
    else:
        with pytest.raises(refusal):
            db_sqlite.check_driver(python, sqlite)


def test_an_sqlite_engine_is_made_on_this_python() -> None:
    engine = create_database_engine("sqlite://")
    assert engine.dialect.name == "sqlite"
    engine.dispose()
