"""Starting a payment (create or reuse a Checkout Session) and the verify fallback.

An invoice never has two open sessions that could both take money: checkout holds the invoice's row lock while
it talks to Stripe, reuses the current session when it is still good for this payer and amount, and otherwise
expires it (and sees Stripe confirm) before creating the next one. A previous session that turns out paid with a
payment that cannot settle the invoice (it was edited since) is set aside and refunded, and checkout goes on at
the invoice's current amount.
"""

from __future__ import annotations

import re
import time
from typing import Any, NamedTuple
from urllib.parse import quote

from sqlalchemy import Connection

from billing import stripe_gateway
from billing.db import transaction
from billing.errors import CheckoutSessionNotFound, InvoiceNotPayable
from billing.fulfillment import Outcome, fulfill_checkout_session, has_anything_to_apply
from billing.invoice_states import PAYABLE_STATUSES, SETTLED_STATUSES, InvoiceStatus
from billing.invoices import require_contact_and_company_invoice
from billing.money import normalize_currency, settlement_terms, settles_exactly, to_minor_units
from billing.repository.checkout_sessions import attach_checkout_session
from billing.repository.contacts import ContactRecord, save_stripe_customer
from billing.repository.invoices import InvoiceRecord
from billing.repository.unapplied_payments import UnappliedPaymentRecord, find_unapplied_payment_of_session
from billing.settings import settings
from billing.stripe_gateway import CheckoutSessionSnapshot
from billing.unapplied_payments import refund_if_due

# A session about to expire is not handed out: the payer would see it die mid-payment.
_MIN_REMAINING_SECONDS = 15 * 60
_SESSION_ID = re.compile(r"cs_(test|live)_[A-Za-z0-9]{1,250}")


def start_checkout(firebase_uid: str, invoice_id: str) -> dict[str, Any]:
    settled, set_aside = False, None
    with transaction() as conn:
        contact, invoice = require_contact_and_company_invoice(conn, firebase_uid, invoice_id, for_update=True)
        _require_payable(invoice)
        amount_minor = to_minor_units(invoice.amount, invoice.currency)
        session: CheckoutSessionSnapshot | None = None
        if invoice.stripe_checkout_session_id:
            previous = _settle_previous_session(conn, invoice, contact)
            session, settled, set_aside = previous.reusable, previous.settled, previous.set_aside
            invoice = previous.invoice
        if not settled and session is None:
            session = _create_session(conn, invoice, contact, amount_minor)
    refund_if_due(set_aside)  # after the commit: the release of its session is kept whatever Stripe answers
    # Raised after the commit, so that the fulfillment of a session found complete is kept.
    if settled or session is None:
        raise InvoiceNotPayable()
    return {"clientSecret": session.client_secret, "sessionId": session.id}


def verify_checkout(firebase_uid: str, invoice_id: str, session_id: str) -> dict[str, Any]:
    set_aside = None
    well_formed = bool(_SESSION_ID.fullmatch(session_id))
    with transaction() as conn:
        _, invoice = require_contact_and_company_invoice(conn, firebase_uid, invoice_id)
        if well_formed and invoice.stripe_checkout_session_id != session_id:
            # A session released because its payment could not settle the invoice still has an answer: what
            # became of that payment.
            set_aside = find_unapplied_payment_of_session(conn, invoice.id, session_id)
    if not well_formed or (invoice.stripe_checkout_session_id != session_id and set_aside is None):
        raise CheckoutSessionNotFound()
    if set_aside is None and invoice.status not in SETTLED_STATUSES:
        # Outside a transaction: no lock is held while Stripe answers; fulfillment re-checks everything.
        session = stripe_gateway.retrieve_checkout_session(session_id)
        if session is None or session.invoice_id != invoice.id:
            raise CheckoutSessionNotFound()
        if has_anything_to_apply(session):  # otherwise the invoice as read stands
            with transaction() as conn:
                result = fulfill_checkout_session(conn, session)
            invoice = result.invoice or invoice
            set_aside = refund_if_due(result.unapplied)
    answer: dict[str, Any] = {
        "success": invoice.status == InvoiceStatus.PAID,
        "status": invoice.status,
        "contactId": invoice.paid_by_contact_id,
        "amount": invoice.amount,
    }
    if set_aside is not None:
        # The payer's money did not pay this invoice: say what became of it (the invoice is payable again).
        answer["unappliedPayment"] = {"reason": set_aside.reason, "status": set_aside.status}
    return answer


def _require_payable(invoice: InvoiceRecord) -> None:
    if invoice.status not in PAYABLE_STATUSES:
        raise InvoiceNotPayable(f"invoice is {invoice.status}")


class _PreviousSession(NamedTuple):
    invoice: InvoiceRecord  # as it is now
    reusable: CheckoutSessionSnapshot | None = None
    settled: bool = False  # it completed and paid the invoice: no longer payable
    set_aside: UnappliedPaymentRecord | None = None  # it completed with a payment that cannot settle the invoice


def _settle_previous_session(conn: Connection, invoice: InvoiceRecord, contact: ContactRecord) -> _PreviousSession:
    """The invoice's current session: reused, or closed (expired, released or gone) so a new one may be made, or
    found completed (applied here)."""
    assert invoice.stripe_checkout_session_id is not None
    current = stripe_gateway.retrieve_checkout_session(invoice.stripe_checkout_session_id)
    if current is not None and current.status == "open":
        if _reusable(current, invoice, contact):
            return _PreviousSession(invoice, reusable=current)
        # Another payer or a changed amount: close it first. If it completed meanwhile, Stripe says so here.
        current = stripe_gateway.expire_checkout_session(current.id)
    if current is not None and current.status == "complete":
        result = fulfill_checkout_session(conn, current)
        if result.outcome is Outcome.PAYMENT_NOT_APPLIED and result.invoice is not None and (
            result.invoice.status in PAYABLE_STATUSES and result.invoice.stripe_checkout_session_id is None
        ):
            return _PreviousSession(result.invoice, set_aside=result.unapplied)
        return _PreviousSession(invoice, settled=True)
    return _PreviousSession(invoice)


def _reusable(session: CheckoutSessionSnapshot, invoice: InvoiceRecord, contact: ContactRecord) -> bool:
    return (
        session.invoice_id == invoice.id
        and session.contact_id == contact.id
        and settles_exactly(settlement_terms(session.amount_total, session.currency), invoice.amount, invoice.currency)
        and (session.expires_at or 0) > time.time() + _MIN_REMAINING_SECONDS
        and bool(session.client_secret)
    )


def _create_session(
    conn: Connection, invoice: InvoiceRecord, contact: ContactRecord, amount_minor: int
) -> CheckoutSessionSnapshot:
    customer_id = contact.stripe_customer_id
    if not customer_id:
        customer_id = stripe_gateway.create_customer(contact_id=contact.id, email=contact.email)
        save_stripe_customer(conn, contact.id, customer_id)
    currency = normalize_currency(invoice.currency)
    params = _session_params(invoice, contact, customer_id, amount_minor, currency)
    # Same key for a retry of this attempt, a new key for every new attempt: the invoice's `updatedAt` changes
    # whenever a session is attached, released or failed, so a request retried after a crash between Stripe's
    # answer and our commit replays Stripe's session instead of making a second; and any parameter edited
    # meanwhile (the description, say) makes another key, never one Stripe refuses as reused.
    idempotency_key = stripe_gateway.idempotency_key(
        "checkout", f"{invoice.id}|{invoice.updated_at.isoformat()}", params
    )
    session = stripe_gateway.create_checkout_session(params, idempotency_key=idempotency_key)
    attached = attach_checkout_session(
        conn,
        invoice_id=invoice.id,
        session_id=session.id,
        contact_id=contact.id,
        customer_id=customer_id,
        amount_minor=amount_minor,
        currency=currency,
        idempotency_key=idempotency_key,
    )
    if attached is None:
        raise InvoiceNotPayable()
    return session


def _session_params(
    invoice: InvoiceRecord, contact: ContactRecord, customer_id: str, amount_minor: int, currency: str
) -> dict[str, Any]:
    metadata = {
        "invoiceId": invoice.id,
        "invoiceNumber": invoice.invoice_number,
        "proposalId": invoice.proposal_id,
        "contactId": contact.id,  # who pays: fulfillment records it as paidByContactId
    }
    product_data: dict[str, Any] = {"name": f"Invoice {invoice.invoice_number}"}
    if invoice.description:
        product_data["description"] = invoice.description
    return {
        "ui_mode": "embedded_page",
        "mode": "payment",
        "customer": customer_id,
        "line_items": [
            {
                "price_data": {"currency": currency.lower(), "unit_amount": amount_minor, "product_data": product_data},
                "quantity": 1,
            }
        ],
        # Stripe substitutes {CHECKOUT_SESSION_ID}; the portal then calls verify if the webhook is late.
        "return_url": f"{settings().portal_url}/dashboard?session_id={{CHECKOUT_SESSION_ID}}"
        f"&invoice_id={quote(invoice.id, safe='')}",
        "metadata": metadata,
        # Copied to the PaymentIntent, so charges, refunds and disputes can be traced to the invoice.
        "payment_intent_data": {"metadata": metadata},
    }
