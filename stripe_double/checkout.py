"""The payer at Stripe's payment page, and the bank behind a debit: Stripe's test cards (declines, 3-D Secure) and
test bank accounts (a debit that settles later, or fails), turned into the double's scenarios."""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from stripe_double.double import StripeDouble
from stripe_double.vocabulary import THREE_DECIMAL_CURRENCIES, ZERO_DECIMAL_CURRENCIES

Json = dict[str, Any]


@dataclass(frozen=True)
class TestCard:
    outcome: str  # "succeeds" | "declined" | "authenticate"
    decline_code: str | None = None
    message: str = ""


# Stripe's test cards (https://docs.stripe.com/testing); spaces are ignored.
TEST_CARDS: dict[str, TestCard] = {
    "4242424242424242": TestCard("succeeds", message="Visa: succeeds"),
    "5555555555554444": TestCard("succeeds", message="Mastercard: succeeds"),
    "4000000000000002": TestCard("declined", "generic_decline", "Your card was declined."),
    "4000000000009995": TestCard("declined", "insufficient_funds", "Your card has insufficient funds."),
    "4000000000000069": TestCard("declined", "expired_card", "Your card has expired."),
    "4000002500003155": TestCard("authenticate", message="3D Secure: succeeds once the cardholder authenticates"),
}
# Stripe's test US bank accounts (routing number 110000000): the debit settles later, then succeeds or fails.
TEST_BANK_ACCOUNTS: dict[str, tuple[bool, str]] = {
    "000123456789": (True, "the debit succeeds"),
    "000222222227": (False, "the debit fails: insufficient funds"),
    "000111111113": (False, "the debit fails: account closed"),
}


class PaymentRefused(Exception):
    """The payment page's answer when a payment cannot go ahead; the session stays as it was."""

    def __init__(self, status: int, code: str, message: str, decline_code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.decline_code = status, code, message, decline_code

    def body(self) -> Json:
        error: Json = {"type": "card_error" if self.status == 402 else "invalid_request_error",
                       "code": self.code, "message": self.message}
        if self.decline_code:
            error["decline_code"] = self.decline_code
        return {"error": error}


class Checkout:
    """Plays the customer at Stripe's payment page, and the bank behind a debit."""

    def __init__(self, double: StripeDouble, bank_debit_settle_seconds: float | None) -> None:
        self.double = double
        self.bank_debit_settle_seconds = bank_debit_settle_seconds
        self._awaiting_authentication: set[str] = set()
        self._bank_debits: dict[str, bool] = {}  # session id -> will succeed
        self._lock = threading.Lock()
        self._timers: list[threading.Timer] = []

    def session(self, session_id: str) -> Json:
        session = self.double.sessions.get(session_id)
        if session is None:
            raise PaymentRefused(404, "resource_missing", f"No such checkout.session: '{session_id}'")
        return session

    def summary(self, session_id: str) -> Json:
        session = self.session(session_id)
        return {
            "id": session_id,
            "status": session["status"],
            "payment_status": session["payment_status"],
            "amount_total": session["amount_total"],
            "currency": session["currency"],
            "amount": _display_amount(session),
            "metadata": session["metadata"],
            "expires_at": session["expires_at"],
            "payment_intent": session["payment_intent"],
            "awaiting_authentication": session_id in self._awaiting_authentication,
            "bank_debit_pending": session_id in self._bank_debits,
            "redirect_url": self.double.redirect_url(session_id),
        }

    def pay_with_card(self, session_id: str, number: str) -> Json:
        self._require_open(session_id)
        card = TEST_CARDS.get(re.sub(r"[\s-]", "", number or ""))
        if card is None:
            raise PaymentRefused(402, "card_declined", "Your card was declined: use one of Stripe's test cards.",
                                 "test_mode_live_card")
        if card.outcome == "declined":
            raise PaymentRefused(402, "card_declined", card.message, card.decline_code)
        if card.outcome == "authenticate":
            with self._lock:
                self._awaiting_authentication.add(session_id)
            return {"status": "requires_action", "next_action": {
                "type": "authenticate",
                "authenticate_url": f"/local/checkout/sessions/{session_id}/authenticate",
            }}
        return self._complete_paid(session_id, re.sub(r"[\s-]", "", number))

    def authenticate(self, session_id: str, approve: bool) -> Json:
        with self._lock:
            if session_id not in self._awaiting_authentication:
                raise PaymentRefused(400, "payment_intent_unexpected_state", "nothing to authenticate")
            self._awaiting_authentication.discard(session_id)
        if not approve:
            raise PaymentRefused(402, "payment_intent_authentication_failure",
                                 "The cardholder did not authenticate the payment.")
        self._require_open(session_id)
        return self._complete_paid(session_id)

    def pay_with_bank_account(self, session_id: str, account_number: str) -> Json:
        session = self._require_open(session_id)
        if session["currency"] != "usd":
            raise PaymentRefused(400, "payment_method_unavailable", "US bank account debits are in USD only.")
        account = TEST_BANK_ACCOUNTS.get(re.sub(r"\s", "", account_number or ""))
        if account is None:
            raise PaymentRefused(400, "invalid_bank_account",
                                 "Use a test account number: " + ", ".join(TEST_BANK_ACCOUNTS))
        will_succeed, _ = account
        self.double.complete_session(session_id, "unpaid", payment_method_type="us_bank_account",
                                     source=re.sub(r"\s", "", account_number))
        with self._lock:
            self._bank_debits[session_id] = will_succeed
        if self.bank_debit_settle_seconds is not None:
            timer = threading.Timer(self.bank_debit_settle_seconds, self._settle_quietly, args=(session_id,))
            timer.daemon = True
            timer.start()
            self._timers.append(timer)
        return {**self.summary(session_id), "debit_will_succeed": will_succeed,
                "settles_in_seconds": self.bank_debit_settle_seconds}

    def settle(self, session_id: str, succeeded: bool | None = None) -> Json:
        """The bank's answer to a debit in flight: the test account's outcome unless `succeeded` says otherwise."""
        with self._lock:
            if session_id not in self._bank_debits:
                raise PaymentRefused(400, "payment_intent_unexpected_state", "no bank debit in flight")
            outcome = self._bank_debits.pop(session_id)
        self.double.async_payment(session_id, succeeded=outcome if succeeded is None else succeeded)
        return self.summary(session_id)

    def expire(self, session_id: str) -> Json:
        self._require_open(session_id)
        self.double.expire(session_id)
        return self.summary(session_id)

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()

    def _settle_quietly(self, session_id: str) -> None:
        with contextlib.suppress(PaymentRefused):  # settled by hand already
            self.settle(session_id)

    def _require_open(self, session_id: str) -> Json:
        session = self.session(session_id)
        if session["status"] != "open":
            raise PaymentRefused(409, "checkout_session_not_open", f"This Checkout Session is {session['status']}.")
        return session

    def _complete_paid(self, session_id: str, card_number: str | None = None) -> Json:
        try:
            self.double.complete_session(session_id, "paid", payment_method_type="card", source=card_number)
        except ValueError as error:  # completed or expired by someone else meanwhile
            raise PaymentRefused(409, "checkout_session_not_open", str(error)) from None
        return self.summary(session_id)


def _display_amount(session: Json) -> str:
    """The amount as the payment page shows it: major units, with as many decimals as the currency has."""
    currency = session["currency"]
    decimals = 0 if currency in ZERO_DECIMAL_CURRENCIES else 3 if currency in THREE_DECIMAL_CURRENCIES else 2
    return f"{Decimal(session['amount_total']).scaleb(-decimals)} {currency.upper()}"
