"""What happens at Stripe besides the API calls of the code under test: the customer pays at the payment page, the
bank settles a debit, time passes, someone refunds in the Dashboard, the cardholder disputes. Tests (and the local
server's payment page) play these parts; each returns the events Stripe would send, already handed to the
listeners (webhook delivery)."""

from __future__ import annotations

from typing import Any

from stripe_double.errors import StripeApiError
from stripe_double.payments import create_payment_intent, open_dispute, pick_method, refund_charge, succeeded_charge
from stripe_double.store import Store, new_id
from stripe_double.vocabulary import CLOSED_DISPUTE_STATUSES, DISPUTE_REASONS, OPEN_DISPUTE_STATUSES, REFUND_REASONS

Json = dict[str, Any]


class Scenarios:
    """Mixed into StripeDouble: the parts a test plays, on the double's `store`."""

    store: Store

    def complete_session(self, session_id: str, payment_status: str = "paid", *,
                         payment_method_type: str | None = None, source: str | None = None) -> list[Json]:
        """The customer finishes checkout: ``paid`` (e.g. card) or ``unpaid`` (a bank debit still in flight).
        Creates the PaymentIntent and its Charge and emits ``checkout.session.completed``."""
        if payment_status not in ("paid", "unpaid"):
            raise ValueError("payment_status must be 'paid' or 'unpaid'")
        store = self.store
        with store.lock:
            store.sweep_expired()
            session = store.session(session_id)
            if session["status"] != "open":
                raise ValueError(f"session {session_id} is {session['status']}, not open")
            paid = payment_status == "paid"
            method = payment_method_type or pick_method(session, paid)
            intent = create_payment_intent(store, session, method, paid, source)
            customer = store.customers.get(session["customer"] or "", {})
            session.update(
                status="complete",
                payment_status=payment_status,
                payment_intent=intent["id"],
                url=None,
                collected_information={"business_name": None, "individual_name": None, "shipping_details": None},
                customer_details={
                    "address": None,
                    "business_name": None,
                    "email": customer.get("email") or session["customer_email"],
                    "individual_name": None,
                    "name": customer.get("name"),
                    "phone": None,
                    "tax_exempt": "none",
                    "tax_ids": [],
                },
            )
            # Stripe sends charge.succeeded when the charge succeeds (at once for a card; a bank debit when it
            # settles); the answer is the session's event, as before
            if paid:
                store.emit("charge.succeeded", store.charges[intent["latest_charge"]])
            events = [store.emit("checkout.session.completed", session)]
        store.deliver_pending(raise_errors=True)
        return events

    def async_payment(self, session_id: str, succeeded: bool) -> list[Json]:
        """The delayed payment of a complete+unpaid session settles or fails, emitting
        ``checkout.session.async_payment_succeeded`` / ``..._failed``."""
        store = self.store
        with store.lock:
            session = store.session(session_id)
            if session["status"] != "complete" or session["payment_status"] != "unpaid":
                raise ValueError(
                    f"session {session_id} is {session['status']}/{session['payment_status']}, not complete/unpaid"
                )
            intent = store.payment_intents[session["payment_intent"]]
            if intent["status"] != "processing":
                raise ValueError(f"payment intent {intent['id']} is {intent['status']}")
            charge = store.charges[intent["latest_charge"]]
            if succeeded:
                intent.update(status="succeeded", amount_received=intent["amount"])
                charge.update(status="succeeded", paid=True, balance_transaction=new_id("txn_"))
                session["payment_status"] = "paid"
                store.emit("charge.succeeded", charge)
                event_type = "checkout.session.async_payment_succeeded"
            else:
                intent.update(status="requires_payment_method")
                charge.update(
                    status="failed",
                    failure_code="insufficient_funds",
                    failure_message="The account has insufficient funds to cover this payment.",
                    outcome={**charge["outcome"], "type": "issuer_declined", "network_status": "declined_by_network",
                             "seller_message": "The bank returned the payment."},
                )
                event_type = "checkout.session.async_payment_failed"
            events = [store.emit(event_type, session)]
        store.deliver_pending(raise_errors=True)
        return events

    def sweep_expired(self) -> list[Json]:
        """Expire every open session whose ``expires_at`` has passed (per ``clock``), as Stripe does on its own
        schedule, and deliver the ``checkout.session.expired`` events (the local server does it every second)."""
        store = self.store
        with store.lock:
            first_new = len(store.events)
            store.sweep_expired()
            events = store.events[first_new:]
        store.deliver_pending(raise_errors=False)
        return events

    def expire(self, session_id: str) -> list[Json]:
        """Expire an open session (like ``POST /v1/checkout/sessions/{id}/expire``)."""
        store = self.store
        with store.lock:
            store.sweep_expired()
            session = store.session(session_id)
            if session["status"] != "open":
                raise ValueError('Only Checkout Sessions with a status in ["open"] can be expired.')
            events = [store.expire(session, None)]
        store.deliver_pending(raise_errors=True)
        return events

    def refund(self, payment_intent_id: str, amount: int | None = None, *, reason: str | None = None) -> list[Json]:
        """Refund (part of) a succeeded payment, as someone in the Dashboard would; emits ``charge.refunded``."""
        if reason is not None and reason not in REFUND_REASONS:
            raise ValueError(f"reason must be one of {REFUND_REASONS}")
        store = self.store
        with store.lock:
            first_new = len(store.events)
            try:
                refund_charge(store, succeeded_charge(store, payment_intent_id), amount, reason, {}, None)
            except StripeApiError as error:
                raise ValueError(error.message) from None
            events = store.events[first_new:]
        store.deliver_pending(raise_errors=True)
        return events

    def dispute(self, payment_intent_id: str, status: str = "needs_response", *, reason: str = "fraudulent",
                amount: int | None = None) -> list[Json]:
        """The cardholder disputes a succeeded payment; emits ``charge.dispute.created``."""
        if status not in OPEN_DISPUTE_STATUSES:
            raise ValueError(f"status must be one of {OPEN_DISPUTE_STATUSES}")
        if reason not in DISPUTE_REASONS:
            raise ValueError(f"reason must be one of {DISPUTE_REASONS}")
        store = self.store
        with store.lock:
            first_new = len(store.events)
            open_dispute(store, succeeded_charge(store, payment_intent_id), status, reason, amount)
            events = store.events[first_new:]
        store.deliver_pending(raise_errors=True)
        return events

    def close_dispute(self, dispute_id: str, status: str = "won") -> list[Json]:
        """Settle an open dispute (``won``/``lost``/``warning_closed``); emits ``charge.dispute.closed``."""
        if status not in CLOSED_DISPUTE_STATUSES:
            raise ValueError(f"status must be one of {CLOSED_DISPUTE_STATUSES}")
        store = self.store
        with store.lock:
            dispute = store.disputes.get(dispute_id)
            if dispute is None:
                raise KeyError(f"no such dispute: {dispute_id}")
            if dispute["status"] not in OPEN_DISPUTE_STATUSES:
                raise ValueError(f"dispute {dispute_id} is already {dispute['status']}")
            dispute["status"] = status
            events = [store.emit("charge.dispute.closed", dispute)]
        store.deliver_pending(raise_errors=True)
        return events

    def redirect_url(self, session_id: str) -> str | None:
        """Where the browser lands after checkout: ``return_url``/``success_url`` with ``{CHECKOUT_SESSION_ID}``
        filled in (Stripe stores the template verbatim)."""
        with self.store.lock:
            session = self.store.session(session_id)
            template = session["return_url"] or session["success_url"]
        return template.replace("{CHECKOUT_SESSION_ID}", session_id) if template else None

    def backdate_events(self, seconds: int) -> None:
        """Make every event so far ``seconds`` older (its ``created``), as time passing would: what an events-list
        reader that waits for the webhook first (reconciliation) sees only once events are old enough."""
        with self.store.lock:
            for event in self.store.events:
                event["created"] -= seconds
