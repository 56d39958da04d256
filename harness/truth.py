"""The model the reliability tests check the database against: what Stripe knows about an invoice.

It reads the Stripe double's objects only (sessions, PaymentIntents, charges), never our code or tables, so it
cannot share a mistake with the implementation. Once every event is known, the invoice's status must be exactly
`status()`; at any moment before, the database may know less than Stripe but never something Stripe does not say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stripe_double.double import StripeDouble


@dataclass(frozen=True)
class Payment:
    """A payment Stripe took (its PaymentIntent succeeded) for an invoice."""

    session_id: str
    payer: str
    payment_intent: str
    charge: dict[str, Any]


class StripeTruth:
    def __init__(self, stripe: StripeDouble, invoice_id: str) -> None:
        self.stripe = stripe
        # In creation order (the double keeps insertion order).
        self.sessions = [s for s in stripe.sessions.values() if s["metadata"].get("invoiceId") == invoice_id]

    def intent_status(self, session: dict[str, Any]) -> str | None:
        intent_id = session.get("payment_intent")
        return self.stripe.payment_intents[intent_id]["status"] if intent_id else None

    def open_sessions(self) -> list[dict[str, Any]]:
        return [s for s in self.sessions if s["status"] == "open"]

    def payments(self) -> list[Payment]:
        found = []
        for session in self.sessions:
            if self.intent_status(session) == "succeeded":
                intent = self.stripe.payment_intents[session["payment_intent"]]
                found.append(Payment(session["id"], session["metadata"]["contactId"], intent["id"],
                                     self.stripe.charges[intent["latest_charge"]]))
        return found

    def money_in_flight_or_taken(self) -> list[dict[str, Any]]:
        return [s for s in self.sessions if self.intent_status(s) in ("succeeded", "processing")]

    def status(self) -> str:
        """The invoice status Stripe's state implies once every event is known."""
        payments = self.payments()
        if payments:
            return "refunded" if payments[0].charge["refunded"] else "paid"
        if any(self.intent_status(s) == "processing" for s in self.sessions):
            return "processing"
        # A failed bank debit leaves the invoice failed until someone starts a new attempt.
        if self.sessions and self.intent_status(self.sessions[-1]) == "requires_payment_method":
            return "failed"
        return "pending"
