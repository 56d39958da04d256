"""`make stripe-events`: the webhook inbox of DATABASE_URL's database, else of the running local stack's, like the
other local tools; it says so when there is nothing to show."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import insert

from billing.db import create_database_engine
from billing.schema import stripe_event
from local.stack import Stack
from tests.support.dev_stack import run_make, stack_environment


@pytest.fixture
def stack_database(seeded: str, tmp_path: Path) -> str:
    """A seeded database, and the record `make dev` leaves while its stack runs (its processes: this one)."""
    url = seeded
    Stack("http://127.0.0.1:9", "http://127.0.0.1:9", "http://127.0.0.1:9/api/webhook/stripe",
          {"DATABASE_URL": url}, {"dev": os.getpid()}).save(tmp_path)
    return url


def test_with_nothing_failed_it_says_so(stack_database, tmp_path) -> None:
    result = run_make("-s", "stripe-events", "ARGS=failed", env=stack_environment(tmp_path))

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "no failed events (every stored event was processed)" in result.stderr


def test_a_failed_event_of_the_stacks_database_is_listed(stack_database, tmp_path) -> None:
    engine = create_database_engine(stack_database)
    with engine.begin() as conn:
        conn.execute(insert(stripe_event).values(id="evt_failed_1", type="checkout.session.completed",
                                                 invoiceId="inv_demo_usd", payload={}, outcome="error: test"))
    engine.dispose()

    result = run_make("-s", "stripe-events", "ARGS=failed", env=stack_environment(tmp_path))

    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert json.loads(line) | {"receivedAt": None} == {"id": "evt_failed_1", "type": "checkout.session.completed",
                                                        "invoiceId": "inv_demo_usd", "receivedAt": None,
                                                        "outcome": "error: test"}


def test_without_a_database_url_or_a_running_stack_it_says_what_to_do(tmp_path) -> None:
    result = run_make("-s", "stripe-events", "ARGS=failed", env=stack_environment(tmp_path))

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "set DATABASE_URL to the database to look at, or the local stack is not running" in result.stderr
