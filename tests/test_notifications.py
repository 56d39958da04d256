"""Notifications: outbox rows written with the state changes, delivered by the notifier through SES (moto's sesv2
answers and keeps what would have been sent)."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta
from email import policy
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from moto.core.models import DEFAULT_ACCOUNT_ID

from billing import email_sender
from billing.db import transaction
from billing.outbox import note_invoice_issued
from harness.events import sample
from tests.conftest import EMAIL_FROM_ADDRESS, PORTAL_URL
from tests.support.faults import failing_updates
from tests.support.observed import emitted_metrics

SCHEDULED = {"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}


@pytest.fixture
def ses(monkeypatch, google_endpoint):
    """moto's SES for one test, with the sender's identity verified; the notifier's client made inside it."""
    from moto import mock_aws
    from moto.core.models import override_responses_real_send

    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    email_sender.ses_client.cache_clear()
    override_responses_real_send(google_endpoint)  # the Stripe double and Google's endpoint still answer
    with mock_aws():
        client = boto3.client("sesv2", region_name="us-east-1")
        client.create_email_identity(EmailIdentity=EMAIL_FROM_ADDRESS)
        yield client
    override_responses_real_send(None)
    email_sender.ses_client.cache_clear()


def sent_messages() -> list[tuple[str, list[str], email.message.EmailMessage]]:
    """(sender, recipients, parsed MIME message) of everything SES accepted."""
    from moto.ses.models import ses_backends

    return [(m.source, sorted(set(m.destinations)), email.message_from_string(m.raw_data, policy=policy.default))
            for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages]


def parts(message: Any) -> tuple[str, str]:
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def run_notifier(functions) -> dict[str, int]:
    return functions.notifier(SCHEDULED, None)


def notifications(db) -> list[dict[str, Any]]:
    return db('SELECT kind, "contactId", "invoiceId", status, attempts, "lastError", payload FROM "Notification" '
              'ORDER BY "createdAt", id')


def contact_email(db, contact_id: str) -> str:
    return db('SELECT email FROM "Contact" WHERE id = :id', id=contact_id)[0]["email"]


def test_a_payment_sends_its_payer_one_receipt_however_often_it_is_reported(
    world, api, stripe_double, functions, db, ses
) -> None:
    # Given Alice paid an invoice at Stripe
    acme = world.company("Acme Ltd")
    alice = world.contact(acme)
    invoice_id = world.invoice(acme, "1250.00", description="Phase 1 - Foundation")
    _, created = api.checkout(alice, invoice_id)
    (completed,) = stripe_double.complete_session(created["sessionId"])

    # When the webhook is delivered twice and verify is called too
    assert api.deliver(completed)[1]["outcome"] == "paid"
    assert api.deliver(completed)[1] == {"received": True, "duplicate": True}
    assert api.verify(alice, invoice_id, created["sessionId"])[1]["success"] is True

    # Then one outbox row, and the notifier sends one receipt to Alice
    (row,) = notifications(db)
    assert (row["kind"], row["contactId"], row["status"]) == ("payment_succeeded", alice.id, "pending")
    assert run_notifier(functions) == {"sent": 1}
    assert run_notifier(functions) == {}
    (sender, recipients, message), = sent_messages()
    assert (sender, recipients) == (EMAIL_FROM_ADDRESS, [contact_email(db, alice.id)])
    number = db('SELECT "invoiceNumber" FROM "Invoice" WHERE id = :id', id=invoice_id)[0]["invoiceNumber"]
    assert message["Subject"] == f"Receipt: $1,250.00 paid for invoice {number}"
    text, html = parts(message)
    for part in (text, html):
        assert number in part and "$1,250.00" in part and "Acme Ltd" in part and "Phase 1 - Foundation" in part
        assert f"{PORTAL_URL}/dashboard?pdf={invoice_id}" in part  # the paid invoice's PDF
    assert notifications(db)[0]["status"] == "sent"

    # and no secret reaches the message or the outbox
    stored = json.dumps(notifications(db), default=str)
    for secret in (created["clientSecret"], api.webhook_secret, "sk_test", "client_secret", "secret"):
        assert secret not in message.as_string() and secret not in stored


def test_the_receipt_links_stripes_receipt_when_charge_succeeded_arrived_before_sending(
    world, api, stripe_double, functions, db, ses
) -> None:
    acme = world.company("Acme Ltd")
    alice, bob = world.contact(acme), world.contact(acme)

    def pay(contact) -> dict:
        """The contact pays a new invoice; checkout.session.completed delivered, charge.succeeded returned."""
        _, created = api.checkout(contact, world.invoice(acme, "100.00"))
        (completed,) = stripe_double.complete_session(created["sessionId"])
        assert api.deliver(completed)[1]["outcome"] == "paid"
        intent = completed["data"]["object"]["payment_intent"]
        (charge,) = [e for e in stripe_double.events if e["type"] == "charge.succeeded"
                     and e["data"]["object"]["payment_intent"] == intent]
        return charge

    # Alice's charge.succeeded arrives after the event that paid her invoice, but before the notifier runs
    alice_charge = pay(alice)
    assert api.deliver(alice_charge)[1]["outcome"] == "payment_method_recorded"
    receipt_url = alice_charge["data"]["object"]["receipt_url"]
    assert receipt_url.startswith("https://")
    assert run_notifier(functions) == {"sent": 1}
    # Bob's arrives only after his receipt was sent: his receipt has no Stripe link, and no second email follows
    bob_charge = pay(bob)
    assert run_notifier(functions) == {"sent": 1}
    assert api.deliver(bob_charge)[1]["outcome"] == "payment_method_recorded"
    assert run_notifier(functions) == {}

    by_recipient = {recipients[0]: parts(message) for _, recipients, message in sent_messages()}
    assert len(by_recipient) == 2
    for part in by_recipient[contact_email(db, alice.id)]:
        assert "Stripe receipt" in part and receipt_url in part
    for part in by_recipient[contact_email(db, bob.id)]:
        assert "Stripe receipt" not in part and "Download the paid invoice" in part
    # The URL was read when sending, not copied into the outbox row
    assert all("receiptUrl" not in row["payload"] for row in notifications(db))


def test_a_payment_rolled_back_leaves_no_notification(payment_not_yet_recorded, api, db, db_engine) -> None:
    _, completed = payment_not_yet_recorded
    with failing_updates(db_engine, "StripeEvent") as fault:  # the inbox's outcome cannot be recorded
        fault.on()
        assert api.deliver(completed)[0] == 503
        fault.off()
    assert notifications(db) == []
    assert api.deliver(completed)[1]["outcome"] == "paid"  # Stripe's retry
    assert [row["kind"] for row in notifications(db)] == ["payment_succeeded"]


def test_a_failed_bank_debit_tells_the_payer_the_invoice_is_payable_again(
    world, api, stripe_double, functions, db, ses
) -> None:
    acme = world.company()
    bob = world.contact(acme)
    invoice_id = world.invoice(acme, "300.00")
    _, created = api.checkout(bob, invoice_id)
    (completed,) = stripe_double.complete_session(created["sessionId"], payment_status="unpaid")
    assert api.deliver(completed)[1]["outcome"] == "processing"
    (failed,) = stripe_double.async_payment(created["sessionId"], succeeded=False)
    assert api.deliver(failed)[1]["outcome"] == "failed"
    assert api.deliver(failed)[1]["duplicate"] is True

    assert run_notifier(functions) == {"sent": 1}
    (_, recipients, message), = sent_messages()
    assert recipients == [contact_email(db, bob.id)]
    assert message["Subject"].startswith("Payment failed: invoice INV-")
    text, _ = parts(message)
    assert "payable again" in text and "$300.00" in text and f"{PORTAL_URL}/dashboard" in text


def test_each_refund_of_the_payment_tells_the_payer_once(
    payment_not_yet_recorded, api, stripe_double, functions, db, ses
) -> None:
    _, completed = payment_not_yet_recorded
    api.deliver(completed)
    payment_intent = completed["data"]["object"]["payment_intent"]
    (partial,) = stripe_double.refund(payment_intent, amount=12_500)
    (rest,) = stripe_double.refund(payment_intent, amount=37_500)
    for event in (partial, partial, rest, rest):
        assert api.deliver(event)[0] == 200

    assert [row["kind"] for row in notifications(db)] == ["payment_succeeded", "refund_made", "refund_made"]
    assert run_notifier(functions) == {"sent": 3}
    refunds = sorted((message["Subject"], parts(message)[0]) for _, _, message in sent_messages()
                     if message["Subject"].startswith("Refund"))
    assert [subject.split(" for ")[0] for subject, _ in refunds] == ["Refund: $125.00", "Refund: $500.00"]
    assert "was refunded." in refunds[0][1] and "was refunded in full." in refunds[1][1]


def test_an_issued_invoice_is_told_to_each_contact_with_an_email_except_those_opted_out(
    world, functions, db, ses
) -> None:
    acme = world.company("Acme Ltd")
    alice, bob, carol = world.contact(acme), world.contact(acme), world.contact(acme)
    db('UPDATE "Contact" SET email = NULL WHERE id = :id', id=carol.id)
    db('INSERT INTO "NotificationOptOut" ("contactId") VALUES (:id)', id=bob.id)
    globex = world.company("Globex")
    world.contact(globex)
    invoice_id = world.invoice(acme, "150000", currency="JPY", due="2026-12-31T00:00:00+00:00",
                               description="Kickoff")

    with transaction() as conn:  # the transaction that creates the invoice
        assert note_invoice_issued(conn, invoice_id) == 2
    with transaction() as conn:
        assert note_invoice_issued(conn, invoice_id) == 0  # once per (event, recipient)

    assert run_notifier(functions) == {"sent": 1, "skipped": 1}
    (_, recipients, message), = sent_messages()
    assert recipients == [contact_email(db, alice.id)]
    assert message["Subject"].endswith(": ¥150,000 due 31 Dec 2026")
    text, html = parts(message)
    assert "¥150,000" in text and "¥150,000" in html and "Kickoff" in text
    assert "turn off invoice announcements" in text
    skipped = [row for row in notifications(db) if row["contactId"] == bob.id]
    assert [(row["status"], row["lastError"]) for row in skipped] == [("skipped", "opted_out")]


def test_invoices_created_from_a_schedule_are_announced_once_and_a_refused_schedule_not_at_all(
    world, api, functions, db, ses
) -> None:
    route = "/api/admin/proposals/{proposalId}/invoices"
    due = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    entries = [{"paymentScheduleId": f"payment-{n}", "currency": "USD", "amount": 500, "dueDate": due,
                "trigger": "Kickoff", "description": f"Phase {n}"} for n in (1, 2)]
    acme = world.company("Acme Ltd")
    alice, bob, carol = world.contact(acme), world.contact(acme), world.contact(acme)
    db('UPDATE "Contact" SET email = NULL WHERE id = :id', id=carol.id)
    globex = world.company("Globex")
    world.contact(globex)

    # Staff create two invoices from Acme's schedule, then send the same schedule again
    status, created = api.staff("POST", route, body={"schedule": entries}, proposalId=acme.proposal_id)
    assert (status, created["created"]) == (201, 2)
    assert api.staff("POST", route, body={"schedule": entries}, proposalId=acme.proposal_id)[0] == 200
    # and a refused schedule for Globex (percentages that do not add up): 422
    refused = [{**entries[0], "amount": None, "percentage": 30}]
    assert api.staff("POST", route, body={"schedule": refused, "total": 1000}, proposalId=globex.proposal_id)[0] == 422

    # One invoice-issued row per (created invoice, Acme contact with an email): none for the repeat, none for Globex
    rows = notifications(db)
    invoice_ids = {invoice["id"] for invoice in created["invoices"]}
    assert sorted((row["kind"], row["invoiceId"], row["contactId"]) for row in rows) == sorted(
        ("invoice_issued", invoice_id, contact.id) for invoice_id in invoice_ids for contact in (alice, bob))
    assert run_notifier(functions) == {"sent": 4}
    assert sorted(recipients for _, recipients, _ in sent_messages()) == sorted(
        [contact_email(db, contact.id)] for _ in invoice_ids for contact in (alice, bob))


def test_amounts_are_written_with_their_currencys_decimals(world, functions, db, ses) -> None:
    acme = world.company()
    world.contact(acme)
    kwd = world.invoice(acme, "1234.560", currency="KWD")
    with transaction() as conn:
        note_invoice_issued(conn, kwd)
    run_notifier(functions)
    (_, _, message), = sent_messages()
    assert "KWD 1,234.560" in message["Subject"] and "KWD 1,234.560" in parts(message)[1]


def throttle(client: Any, times: int, code: str = "TooManyRequestsException", status: int = 429) -> list[int]:
    """SES answers `code` to the next `times` SendEmail calls, moto the others. In place of moto's own handler of
    the client's requests (which would otherwise see every request, answered or not), so botocore's retries run."""
    from moto.core.models import botocore_stubber

    calls: list[int] = []

    def answer(request: Any, **kwargs: Any) -> AWSResponse | None:
        if request.url.endswith("/v2/email/outbound-emails"):
            calls.append(1)
            if len(calls) <= times:
                body = json.dumps({"message": "Maximum sending rate exceeded."}).encode()
                return AWSResponse(request.url, status, HTTPHeaders.from_dict({"x-amzn-ErrorType": code}), _Raw(body))
        return botocore_stubber(request=request, **kwargs)

    client.meta.events.unregister("before-send", botocore_stubber)
    client.meta.events.register("before-send", answer)
    return calls


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def test_throttling_is_retried_with_backoff_by_the_client(world, functions, db, ses) -> None:
    acme = world.company()
    world.contact(acme)
    with transaction() as conn:
        note_invoice_issued(conn, world.invoice(acme))
    calls = throttle(email_sender.ses_client(), times=2)

    assert run_notifier(functions) == {"sent": 1}
    assert len(calls) == 3 and len(sent_messages()) == 1


def test_throttling_that_persists_puts_the_batch_back_without_counting_an_attempt(world, functions, db, ses) -> None:
    acme = world.company()
    world.contact(acme), world.contact(acme)
    with transaction() as conn:
        note_invoice_issued(conn, world.invoice(acme))
    throttle(email_sender.ses_client(), times=1000)

    assert run_notifier(functions) == {"deferred": 2}
    rows = notifications(db)
    assert {(row["status"], row["attempts"]) for row in rows} == {("pending", 0)}
    assert run_notifier(functions) == {}  # not due again before the pause


def test_a_notification_is_marked_failed_after_the_maximum_attempts_and_alarmed(
    world, functions, db, ses, capsys
) -> None:
    acme = world.company()
    world.contact(acme)
    with transaction() as conn:
        note_invoice_issued(conn, world.invoice(acme))
    throttle(email_sender.ses_client(), times=1000, code="ConcurrentModificationException", status=400)

    outcomes = []
    for _ in range(3):  # NOTIFICATION_MAX_ATTEMPTS in the tests
        outcomes.append(run_notifier(functions))
        db('UPDATE "Notification" SET "nextAttemptAt" = now() - interval \'1 second\'')
    assert outcomes == [{"retry": 1}, {"retry": 1}, {"failed": 1}]
    (row,) = notifications(db)
    assert (row["status"], row["attempts"], row["lastError"]) == ("failed", 3, "ConcurrentModificationException")
    assert {"name": "NotificationFailed", "unit": "Count", "service": "billing"} in emitted_metrics(
        capsys.readouterr().out)
    assert run_notifier(functions) == {}


def test_ses_refusing_the_message_fails_it_at_once(world, functions, db, ses) -> None:
    ses.delete_email_identity(EmailIdentity=EMAIL_FROM_ADDRESS)  # SES: MessageRejected (not verified)
    acme = world.company()
    world.contact(acme)
    with transaction() as conn:
        note_invoice_issued(conn, world.invoice(acme))
    assert run_notifier(functions) == {"failed": 1}
    assert notifications(db)[0]["lastError"] == "MessageRejected"


def test_settled_notifications_leave_the_outbox_after_the_retention_and_pending_ones_stay(
    world, functions, db
) -> None:
    acme = world.company()
    contacts = [world.contact(acme) for _ in range(5)]
    with transaction() as conn:
        note_invoice_issued(conn, world.invoice(acme))
    ages = {  # contact: (status, days since it was settled); NOTIFICATION_RETENTION_DAYS unset: 30
        contacts[0].id: ("sent", 31), contacts[1].id: ("failed", 31), contacts[2].id: ("skipped", 31),
        contacts[3].id: ("sent", 29), contacts[4].id: ("pending", 31),
    }
    for contact_id, (status, days) in ages.items():
        db(f"""UPDATE "Notification" SET status = :status, "updatedAt" = now() - interval '{days} days'
               WHERE "contactId" = :id""", status=status, id=contact_id)

    report = functions.stripe_event_retention(sample("stripe_event_retention"), None)

    assert report["notifications_deleted"] == 3
    assert sorted(row["contactId"] for row in notifications(db)) == sorted([contacts[3].id, contacts[4].id])


def test_a_contact_deleted_before_sending_is_skipped(world, functions, db, ses) -> None:
    acme = world.company()
    alice = world.contact(acme)
    with transaction() as conn:
        note_invoice_issued(conn, world.invoice(acme))
    db('DELETE FROM "Contact" WHERE id = :id', id=alice.id)
    assert run_notifier(functions) == {"skipped": 1}
    assert sent_messages() == []
