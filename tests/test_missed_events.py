"""Missed events of every kind are recovered (issue 9, case 5): reconciliation reads Stripe's events list
(GET /v1/events) for every type the webhook handles, from a cursor kept in the database, and applies what the inbox
does not hold through the same inbox. The list of handled types exists once (webhook.EVENT_HANDLERS); the template's
subscription and the README are checked against it.

Found: reconciliation asked Stripe only about checkout sessions, so a charge.refunded or dispute webhook that was
never delivered was never applied.
"""

from __future__ import annotations

import re
import time

import pytest
import stripe

from billing.webhook import EVENT_HANDLERS, HANDLED_EVENT_TYPES
from local.template import ROOT, template
from stripe_double.vocabulary import EVENT_TYPES

# The embedded default of `make dev` must not drift from PostgreSQL: every test here runs on both.
pytestmark = pytest.mark.engines("postgresql", "sqlite")

THIRTY_DAYS = 30 * 24 * 3600


WINDOW = 30 * 60  # RECONCILE_AFTER_MINUTES in the tests: the webhook's time to deliver an event first


def event_lists(stripe_double) -> list:
    return [r for r in stripe_double.requests if r.method == "GET" and r.path == "/v1/events"]


def an_hour_later(stripe_double) -> None:
    """Every event so far an hour old: past the window in which reconciliation leaves events to the webhook."""
    stripe_double.backdate_events(3600)


@pytest.fixture
def paid_invoice(payment_not_yet_recorded, api):
    invoice_id, completed = payment_not_yet_recorded
    assert api.deliver(completed)[1]["outcome"] == "paid"
    return invoice_id, completed["data"]["object"]["payment_intent"]


def test_a_refund_whose_webhook_never_came_is_applied_by_reconciliation(
    paid_invoice, stripe_double, functions, db
) -> None:
    invoice_id, payment_intent = paid_invoice
    (refunded,) = stripe_double.refund(payment_intent)  # never delivered
    assert functions.reconcile({}, None)["recovered_events"] == {}  # the webhook's time is not up yet
    an_hour_later(stripe_double)

    report = functions.reconcile({}, None)

    # the refund, and the payment's charge.succeeded (never delivered either): its method and receipt recorded
    assert report["recovered_events"] == {"refunded": 1, "payment_method_recorded": 1}
    assert db('SELECT status FROM "Invoice" WHERE id = :id', id=invoice_id) == [{"status": "refunded"}]
    assert db('SELECT "invoiceId", "amountMinor", status FROM "PaymentAdjustment"') == [
        {"invoiceId": invoice_id, "amountMinor": 50_000, "status": "full"}]
    assert db('SELECT outcome FROM "StripeEvent" WHERE id = :id', id=refunded["id"]) == [{"outcome": "refunded"}]
    assert functions.reconcile({}, None)["recovered_events"] == {}  # applied once


def test_dispute_events_that_never_came_are_recorded_by_reconciliation(
    paid_invoice, stripe_double, functions, db
) -> None:
    invoice_id, payment_intent = paid_invoice
    (created,) = stripe_double.dispute(payment_intent)
    stripe_double.close_dispute(created["data"]["object"]["id"], status="lost")
    an_hour_later(stripe_double)

    assert functions.reconcile({}, None)["recovered_events"] == {"dispute_recorded": 2, "payment_method_recorded": 1}
    assert db('SELECT "invoiceId", kind, status FROM "PaymentAdjustment"') == [
        {"invoiceId": invoice_id, "kind": "dispute", "status": "lost"}]


def test_a_lost_payment_and_its_lost_refund_both_arrive_through_the_list(
    payment_not_yet_recorded, stripe_double, functions, db
) -> None:
    invoice_id, completed = payment_not_yet_recorded  # the payment's own event is lost too
    stripe_double.refund(completed["data"]["object"]["payment_intent"], 10_000)
    an_hour_later(stripe_double)

    report = functions.reconcile({}, None)

    # newest first from the list: the refund waits for its payment, which follows; both applied in one run
    assert report["recovered_events"] == {"awaiting_payment": 1, "paid": 1, "payment_method_recorded": 1}
    assert report["outcomes"] == {"event_partially_refunded": 1}
    assert db('SELECT status FROM "Invoice" WHERE id = :id', id=invoice_id) == [{"status": "paid"}]
    assert db('SELECT "amountMinor", status FROM "PaymentAdjustment"') == [{"amountMinor": 10_000, "status": "partial"}]


def test_the_walk_asks_for_every_handled_type_from_a_cursor_kept_in_the_database(
    paid_invoice, stripe_double, functions, db
) -> None:
    _, payment_intent = paid_invoice
    stripe_double.refund(payment_intent, 100)
    an_hour_later(stripe_double)
    started = int(time.time())

    functions.reconcile({}, None)

    (first,) = event_lists(stripe_double)
    finished = int(time.time())
    assert first.params["types"] == list(HANDLED_EVENT_TYPES)
    created = {k: int(v) for k, v in first.params["created"].items()}
    assert started - THIRTY_DAYS <= created["gte"] <= finished - THIRTY_DAYS
    assert started - WINDOW <= created["lte"] <= finished - WINDOW  # younger events are left to the webhook
    newest = max(e["created"] for e in stripe_double.events)
    (cursor,) = db('SELECT "createdFrom" FROM "ReconciliationCursor"')
    assert cursor["createdFrom"] == newest - 15 * 60  # a little overlap: the list may show an event late

    functions.reconcile({}, None)

    assert int(event_lists(stripe_double)[1].params["created"]["gte"]) == newest - 15 * 60


def test_every_page_of_the_list_is_read(world, stripe_double, functions, db) -> None:
    # Given 101 sessions expired at Stripe whose events were never delivered (more than one page of 100)
    client = stripe.StripeClient("sk_test_pages", base_addresses={"api": stripe_double.url})
    for _ in range(101):
        session = client.v1.checkout.sessions.create(params={
            "mode": "payment", "ui_mode": "embedded_page", "return_url": "https://portal.example.test/done",
            "line_items": [{"quantity": 1, "price_data": {"currency": "usd", "unit_amount": 500,
                                                           "product_data": {"name": "x"}}}]})
        client.v1.checkout.sessions.expire(session.id)
    an_hour_later(stripe_double)

    assert functions.reconcile({}, None)["recovered_events"] == {"unknown_invoice": 101}
    assert len(event_lists(stripe_double)) == 2
    assert event_lists(stripe_double)[1].params["starting_after"] == stripe_double.events[1]["id"]
    assert len(db('SELECT id FROM "StripeEvent"')) == 101


def test_stripe_down_during_the_walk_leaves_the_cursor_for_the_next_run(
    paid_invoice, stripe_double, functions, db
) -> None:
    invoice_id, payment_intent = paid_invoice
    stripe_double.refund(payment_intent)
    an_hour_later(stripe_double)
    stripe_double.fail_next(3, status=503, path_prefix="/v1/events")

    assert functions.reconcile({}, None)["recovered_events"] == {"stripe_unavailable": 1}
    assert db('SELECT * FROM "ReconciliationCursor"') == []
    assert functions.reconcile({}, None)["recovered_events"] == {"refunded": 1, "payment_method_recorded": 1}
    assert db('SELECT status FROM "Invoice" WHERE id = :id', id=invoice_id) == [{"status": "refunded"}]


def test_a_cursor_older_than_stripes_history_starts_thirty_days_back(stripe_double, functions, db) -> None:
    functions.reconcile({}, None)
    db('UPDATE "ReconciliationCursor" SET "createdFrom" = :old', old=int(time.time()) - 2 * THIRTY_DAYS)

    functions.reconcile({}, None)

    assert int(event_lists(stripe_double)[-1].params["created"]["gte"]) >= int(time.time()) - THIRTY_DAYS - 5


# ----- the one list of handled events -------------------------------------------------------------------------


def test_every_handled_type_is_a_stripe_event_type_with_a_handler() -> None:
    assert set(HANDLED_EVENT_TYPES) <= EVENT_TYPES
    assert all(callable(handler) for handler in EVENT_HANDLERS.values())


def test_the_templates_webhook_subscription_is_the_handled_list() -> None:
    description = template()["Outputs"]["StripeWebhookEndpoint"]["Description"]
    subscribed = re.findall(r"[a-z_]+(?:\.[a-z_]+)+", description.split("subscribed to:", 1)[1])
    assert subscribed == list(HANDLED_EVENT_TYPES)


def test_the_readmes_list_of_events_to_register_is_the_handled_list() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Stripe webhook endpoint", 1)[1].split("###", 1)[0]
    assert re.findall(r"`([a-z_]+(?:\.[a-z_]+)+)`", section) == list(HANDLED_EVENT_TYPES)
