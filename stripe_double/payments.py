"""Money at Stripe: the PaymentIntent and Charge a completed session makes, refunds of a charge, disputes of one,
with Stripe's refusals. Each object has every field the pinned SDK's resource has."""

from __future__ import annotations

import copy
from typing import Any

from stripe_double.errors import invalid
from stripe_double.store import Call, Store, new_id, random_text
from stripe_double.vocabulary import DELAYED_METHODS, DISPUTE_EVIDENCE_FIELDS, OPEN_DISPUTE_STATUSES

Json = dict[str, Any]


def pick_method(session: Json, paid: bool) -> str:
    """The payment method the customer used: a card when it pays at once, a delayed method (a bank debit) when
    the payment is still in flight."""
    types: list[str] = session["payment_method_types"]
    if paid:
        return "card" if "card" in types else types[0]
    delayed = [t for t in types if t in DELAYED_METHODS]
    return delayed[0] if delayed else "us_bank_account"


# Stripe's test cards as a charge describes them (payment_method_details.card): brand, funding, country.
CARD_BRANDS = {"4": ("visa", "credit"), "5": ("mastercard", "credit"), "3": ("amex", "credit")}


def card_details(number: str) -> Json:
    """payment_method_details.card of the pinned SDK (Charge.PaymentMethodDetails.Card), for a test card."""
    brand, funding = CARD_BRANDS.get(number[:1], ("visa", "credit"))
    return {
        "amount_authorized": None, "authorization_code": None, "brand": brand, "capture_before": None,
        "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
        "country": "US", "description": None, "electronic_commerce_indicator": None, "exp_month": 12,
        "exp_year": 2034, "extended_authorization": None, "fingerprint": random_text(16), "funding": funding,
        "iin": None, "incremental_authorization": None, "installments": None, "issuer": None, "last4": number[-4:],
        "mandate": None, "moto": None, "multicapture": None, "network": brand, "network_token": None,
        "network_transaction_id": None, "overcapture": None, "regulated_status": None,
        "setup_credential_usage": None, "stored_credential_usage": None, "three_d_secure": None,
        "transaction_link_id": None, "wallet": None,
    }


def bank_account_details(account_number: str) -> Json:
    """payment_method_details.us_bank_account of the pinned SDK (Charge.PaymentMethodDetails.UsBankAccount)."""
    return {
        "account_holder_type": "individual", "account_type": "checking", "bank_name": "STRIPE TEST BANK",
        "expected_debit_date": None, "fingerprint": random_text(16), "last4": account_number[-4:],
        "mandate": None, "payment_reference": None, "routing_number": "110000000",
    }


def method_details(method: str, source: str | None) -> Json:
    """The charge's payment_method_details for the card or bank account the customer paid with."""
    if method == "card":
        return {"type": "card", "card": card_details(source or "4242424242424242")}
    if method == "us_bank_account":
        return {"type": "us_bank_account", "us_bank_account": bank_account_details(source or "000123456789")}
    return {"type": method}


def create_payment_intent(store: Store, session: Json, method: str, paid: bool, source: str | None = None) -> Json:
    """The PaymentIntent and its Charge of a session the customer completed (succeeded, or processing); `source`
    is the test card or bank account number paid with (Stripe's 4242... by default)."""
    data = store.intent_data.get(session["id"], {})
    now = store.now()
    intent_id, charge_id, payment_method = new_id("pi_"), new_id("ch_"), new_id("pm_")
    customer = store.customers.get(session["customer"] or "", {})
    intent = _payment_intent(store, session, data, intent_id, charge_id, payment_method, method, paid, now)
    store.charges[charge_id] = _charge(store, session, data, customer, intent_id, charge_id, payment_method, method,
                                       paid, now)
    store.charges[charge_id]["payment_method_details"] = method_details(method, source)
    store.payment_intents[intent_id] = intent
    for made in (intent_id, charge_id):
        store.belongs_to(made, store.accounts.get(session["id"]))
    return intent


def _payment_intent(store: Store, session: Json, data: Json, intent_id: str, charge_id: str, payment_method: str,
                    method: str, paid: bool, now: int) -> Json:
    amount = session["amount_total"]
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": amount if paid else 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": data.get("capture_method", "automatic_async"),
        "client_secret": f"{intent_id}_secret_{random_text(25)}",
        "confirmation_method": "automatic",
        "created": now,
        "currency": session["currency"],
        "customer": session["customer"],
        "description": data.get("description"),
        "last_payment_error": None,
        "latest_charge": charge_id,
        "livemode": store.livemode,
        "metadata": dict(data.get("metadata", {})),  # payment_intent_data's, as Stripe copies it
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": payment_method,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": [method],
        "processing": None,
        "receipt_email": data.get("receipt_email"),
        "review": None,
        "setup_future_usage": data.get("setup_future_usage"),
        "shipping": None,
        "source": None,
        "statement_descriptor": data.get("statement_descriptor"),
        "statement_descriptor_suffix": data.get("statement_descriptor_suffix"),
        "status": "succeeded" if paid else "processing",
        "transfer_data": None,
        "transfer_group": None,
    }


def _charge(store: Store, session: Json, data: Json, customer: Json, intent_id: str, charge_id: str,
            payment_method: str, method: str, paid: bool, now: int) -> Json:
    amount = session["amount_total"]
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": new_id("txn_") if paid else None,
        "billing_details": {
            "address": dict.fromkeys(("city", "country", "line1", "line2", "postal_code", "state")),
            "email": customer.get("email") or session["customer_email"],
            "name": customer.get("name"),
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": None,
        "captured": True,
        "created": now,
        "currency": session["currency"],
        "customer": session["customer"],
        "description": data.get("description"),
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": store.livemode,
        "metadata": dict(data.get("metadata", {})),
        "on_behalf_of": None,
        "outcome": {
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": paid,
        "payment_intent": intent_id,
        "payment_method": payment_method,
        "payment_method_details": {"type": method},
        "receipt_email": data.get("receipt_email"),
        "receipt_number": None,
        # Stripe's hosted receipt of the charge (the double serves none: a URL of its own shape)
        "receipt_url": f"https://pay.stripe.com/receipts/payment/{random_text(40)}",
        "refunded": False,
        "refunds": {"object": "list", "data": [], "has_more": False, "url": f"/v1/charges/{charge_id}/refunds"},
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": data.get("statement_descriptor"),
        "statement_descriptor_suffix": data.get("statement_descriptor_suffix"),
        "status": "succeeded" if paid else "pending",
        "transfer_data": None,
        "transfer_group": None,
    }


def succeeded_charge(store: Store, payment_intent_id: str) -> Json:
    """The charge of a succeeded PaymentIntent (what a refund or a dispute is about)."""
    intent = store.payment_intents.get(payment_intent_id)
    if intent is None:
        raise KeyError(f"no such payment_intent: {payment_intent_id}")
    if intent["status"] != "succeeded":
        raise ValueError(f"payment intent {payment_intent_id} is {intent['status']}")
    return store.charges[intent["latest_charge"]]


def refund_charge(store: Store, charge: Json, amount: int | None, reason: str | None, metadata: dict[str, str],
                  call: Call | None) -> Json:
    """The refund of ``amount`` (default: what is left) of a charge, with Stripe's refusals; emits
    ``charge.refunded``."""
    if charge["status"] != "succeeded":
        raise invalid(f"Charge {charge['id']} has not succeeded and cannot be refunded.", "charge")
    if charge["refunded"]:
        raise invalid(f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
    if any(d["charge"] == charge["id"] and d["status"] in OPEN_DISPUTE_STATUSES for d in store.disputes.values()):
        raise invalid(f"Charge {charge['id']} has been charged back; it has an open dispute.", code="charge_disputed")
    remaining = charge["amount"] - charge["amount_refunded"]
    amount = remaining if amount is None else amount
    if not 0 < amount <= remaining:
        raise invalid(f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                      "amount", code="amount_too_large")
    refund_id = new_id("re_")
    refund = {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn_"),
        "charge": charge["id"],
        "created": store.now(),
        "currency": charge["currency"],
        "destination_details": None,
        "metadata": metadata,
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
    store.refunds[refund_id] = refund
    store.belongs_to(refund_id, store.accounts.get(charge["id"]))
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    charge["refunds"]["data"].insert(0, copy.deepcopy(refund))
    store.emit("charge.refunded", charge, call)
    return refund


def open_dispute(store: Store, charge: Json, status: str, reason: str, amount: int | None) -> None:
    """The cardholder's dispute of a charge; emits ``charge.dispute.created``."""
    now = store.now()
    dispute_id = new_id("dp_")
    dispute = {
        "id": dispute_id,
        "object": "dispute",
        "amount": charge["amount"] if amount is None else amount,
        "balance_transactions": [],
        "charge": charge["id"],
        "created": now,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {**dict.fromkeys(DISPUTE_EVIDENCE_FIELDS), "enhanced_evidence": {}},
        "evidence_details": {
            "due_by": now + 7 * 24 * 60 * 60,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
            "submission_method": "not_submitted",
        },
        "is_charge_refundable": False,
        "livemode": store.livemode,
        "metadata": {},
        "network_reason_code": None,
        "payment_intent": charge["payment_intent"],
        "payment_method_details": None,
        "reason": reason,
        "status": status,
    }
    store.disputes[dispute_id] = dispute
    store.belongs_to(dispute_id, store.accounts.get(charge["id"]))
    charge["disputed"] = True
    store.emit("charge.dispute.created", dispute)
