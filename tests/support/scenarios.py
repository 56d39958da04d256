"""Situations several test modules start from, built through the routes and the Stripe double."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def paid_after_an_edit(world, api, stripe_double, *, payment_status: str = "paid") -> tuple[Any, str, str, dict]:
    """Alice opened a checkout of her 500.00 USD invoice; the portal then edited the invoice to 600.00; she paid the
    still-open 500.00 session (by card, or with `payment_status="unpaid"` a bank debit in flight), its completed
    event not delivered yet. Returns (alice, invoice id, session id, that event)."""
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme, "500.00")
    _, created = api.checkout(alice, invoice_id)
    world.edit_invoice(invoice_id, amount=Decimal("600.00"))
    (completed,) = stripe_double.complete_session(created["sessionId"], payment_status=payment_status)
    return alice, invoice_id, created["sessionId"], completed
