"""Starting a payment (create or reuse a Checkout Session) and the verify fallback.

An invoice never has two open sessions that could both take money: checkout holds the invoice's row lock while
it talks to Stripe, reuses the current session when it is still good for this payer and amount, and otherwise
expires it (and sees Stripe confirm) before creating the next one.
"""

from __future__ import annotations

import hashlib
import re
import time
from enum import Enum
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection

from billing import repository, stripe_gateway
from billing.db import transaction
from billing.errors import CheckoutSessionNotFound, InvoiceNotPayable
from billing.fulfillment import fulfill_checkout_session, has_anything_to_apply
from billing.invoices import require_contact_and_company_invoice
from billing.money import normalize_currency, to_minor_units
from billing.repository import ContactRecord, InvoiceRecord
from billing.schema import PAYABLE_STATUSES
from billing.settings import settings
from billing.stripe_gateway import CheckoutSessionSnapshot

# A session about to expire is not handed out: the payer would see it die mid-payment.
_MIN_REMAINING_SECONDS = 15 * 60
_SESSION_ID = re.compile(r"cs_(test|live)_[A-Za-z0-9]{1,250}")


class _PreviousSession(Enum):
    REUSABLE = "reusable"
    CLOSED = "closed"  # expired, released or gone: a new session may be made
    SETTLED = "settled"  # it completed: the invoice is no longer payable


def start_checkout(firebase_uid: str, invoice_id: str) -> dict[str, Any]:
    settled = False
    with transaction() as conn:
        contact, invoice = require_contact_and_company_invoice(conn, firebase_uid, invoice_id, for_update=True)
        _require_payable(invoice)
        amount_minor = to_minor_units(invoice.amount, invoice.currency)
        session: CheckoutSessionSnapshot | None = None
        if invoice.stripe_checkout_session_id:
            session, state = _settle_previous_session(conn, invoice, contact, amount_minor)
            settled = state is _PreviousSession.SETTLED
        if not settled and session is None:
            session = _create_session(conn, invoice, contact, amount_minor)
    # Raised after the commit, so that the fulfillment of a session found complete is kept.
    if settled or session is None:
        raise InvoiceNotPayable()
    return {"clientSecret": session.client_secret, "sessionId": session.id}


def verify_checkout(firebase_uid: str, invoice_id: str, session_id: str) -> dict[str, Any]:
    with transaction() as conn:
        _, invoice = require_contact_and_company_invoice(conn, firebase_uid, invoice_id)
    if not _SESSION_ID.fullmatch(session_id) or invoice.stripe_checkout_session_id != session_id:
        raise CheckoutSessionNotFound()
    if invoice.status not in ("paid", "refunded"):
        # Outside a transaction: no lock is held while Stripe answers; fulfillment re-checks everything.
        session = stripe_gateway.retrieve_checkout_session(session_id)
        if session is None or session.invoice_id != invoice.id:
            raise CheckoutSessionNotFound()
        if has_anything_to_apply(session):  # otherwise the invoice as read stands
            with transaction() as conn:
                invoice = fulfill_checkout_session(conn, session).invoice or invoice
    return {
        "success": invoice.status == "paid",
        "status": invoice.status,
        "contactId": invoice.paid_by_contact_id,
        "amount": invoice.amount,
    }


def _require_payable(invoice: InvoiceRecord) -> None:
    if invoice.status not in PAYABLE_STATUSES:
        raise InvoiceNotPayable(f"invoice is {invoice.status}")


def _settle_previous_session(
    conn: Connection, invoice: InvoiceRecord, contact: ContactRecord, amount_minor: int
) -> tuple[CheckoutSessionSnapshot | None, _PreviousSession]:
    assert invoice.stripe_checkout_session_id is not None
    current = stripe_gateway.retrieve_checkout_session(invoice.stripe_checkout_session_id)
    if current is not None and current.status == "open":
        if _reusable(current, invoice, contact, amount_minor):
            return current, _PreviousSession.REUSABLE
        # Another payer or a changed amount: close it first. If it completed meanwhile, Stripe says so here.
        current = stripe_gateway.expire_checkout_session(current.id)
    if current is not None and current.status == "complete":
        fulfill_checkout_session(conn, current)
        return None, _PreviousSession.SETTLED
    return None, _PreviousSession.CLOSED


def _reusable(
    session: CheckoutSessionSnapshot, invoice: InvoiceRecord, contact: ContactRecord, amount_minor: int
) -> bool:
    return (
        session.invoice_id == invoice.id
        and session.contact_id == contact.id
        and session.amount_total == amount_minor
        and (session.currency or "").upper() == normalize_currency(invoice.currency)
        and (session.expires_at or 0) > time.time() + _MIN_REMAINING_SECONDS
        and bool(session.client_secret)
    )


def _create_session(
    conn: Connection, invoice: InvoiceRecord, contact: ContactRecord, amount_minor: int
) -> CheckoutSessionSnapshot:
    customer_id = contact.stripe_customer_id
    if not customer_id:
        customer_id = stripe_gateway.create_customer(contact_id=contact.id, email=contact.email)
        repository.save_stripe_customer(conn, contact.id, customer_id)
    currency = normalize_currency(invoice.currency)
    idempotency_key = _idempotency_key(invoice, contact, customer_id, amount_minor, currency)
    session = stripe_gateway.create_checkout_session(
        _session_params(invoice, contact, customer_id, amount_minor, currency), idempotency_key=idempotency_key
    )
    repository.attach_checkout_session(
        conn,
        invoice_id=invoice.id,
        session_id=session.id,
        contact_id=contact.id,
        customer_id=customer_id,
        amount_minor=amount_minor,
        currency=currency,
        idempotency_key=idempotency_key,
    )
    return session


def _idempotency_key(
    invoice: InvoiceRecord, contact: ContactRecord, customer_id: str, amount_minor: int, currency: str
) -> str:
    """Same key for a retry of the same attempt, a new key for every new attempt.

    The invoice's `updatedAt` changes whenever a session is attached, released or failed, so a request retried
    after a crash between Stripe's answer and our commit replays Stripe's session instead of making a second;
    the payer, customer and amount are in the key because Stripe refuses a key reused with other parameters."""
    material = "|".join(
        [invoice.id, invoice.updated_at.isoformat(), contact.id, customer_id, str(amount_minor), currency]
    )
    return "checkout-" + hashlib.sha256(material.encode()).hexdigest()[:40]


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
