"""The outbox under concurrency: duplicate webhook deliveries and verify racing write one notification per
(event, recipient), and notifier runs in parallel processes send each exactly once (claims with FOR UPDATE SKIP
LOCKED on PostgreSQL; SQLite serialises whole transactions)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from harness.parallel import invoke_in_processes
from tests.support.races import run_verify_and_webhook_race

RACES = {
    "postgresql": {"invoices": 12, "deliveries": 3, "verifies_per_payer": 2, "seed": 17, "processes": 4,
                   "notifier_runs": 12},
    "sqlite": {"invoices": 6, "deliveries": 3, "verifies_per_payer": 1, "seed": 19, "processes": 3,
               "notifier_runs": 6},
}
SCHEDULED = {"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}


@pytest.mark.engines("postgresql", "sqlite")
def test_racing_deliveries_and_parallel_notifiers_send_one_email_per_event_and_recipient(
    world, api, stripe_double, token_issuer, db, db_engine, database, tmp_path, monkeypatch
) -> None:
    race = RACES[database.name]
    # Given invoices paid at Stripe, their events delivered three times while both payers call verify, in processes
    _, expected_payer = run_verify_and_webhook_race(world, api, stripe_double, token_issuer, db, db_engine, race)

    # Then one outbox row per invoice, to its payer
    rows = db('SELECT id, kind, "invoiceId", "contactId" FROM "Notification"')
    assert sorted((row["invoiceId"], row["contactId"]) for row in rows) == sorted(expected_payer.items())
    assert {row["kind"] for row in rows} == {"payment_succeeded"}

    # When notifier runs race in parallel processes, each taking a batch of 2 (their messages captured to files)
    monkeypatch.setenv("EMAIL_CAPTURE_DIR", str(tmp_path))
    monkeypatch.setenv("NOTIFICATION_BATCH_SIZE", "2")
    reports = invoke_in_processes([("notifier", SCHEDULED)] * race["notifier_runs"], token_issuer.certificates(),
                                  processes=race["processes"])

    # Then every row was sent exactly once, to its payer's address
    sent = Counter(report[1].get("sent", 0) for report in reports)  # messages per run -> runs
    assert set(sent) <= {0, 1, 2} and sum(count * runs for count, runs in sent.items()) == len(rows)
    captured = [json.loads(path.read_text()) for path in tmp_path.glob("*.json")]
    assert sorted(message["notificationId"] for message in captured) == sorted(row["id"] for row in rows)
    emails = {row["id"]: row["email"] for row in db('SELECT n.id, c.email FROM "Notification" n '
                                                    'JOIN "Contact" c ON c.id = n."contactId"')}
    assert all(message["to"] == emails[message["notificationId"]] for message in captured)
    assert {row["status"] for row in db('SELECT status FROM "Notification"')} == {"sent"}
