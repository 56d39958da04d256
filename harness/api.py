"""Calls the four handlers the way their callers do: the portal with a Firebase ID token, Stripe with a signed
event body."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google_double.tokens import FirebaseTokenIssuer
from harness.events import client_request, decode, staff_request, webhook_request
from harness.functions import Functions
from harness.world import Contact
from stripe_double.events import event_payload, sign_payload

# Called with each response a route gave: (route key, status, body). The tests check docs/openapi.yaml with it.
ResponseCheck = Callable[[str, int, Any], None]


@dataclass
class Api:
    functions: Functions
    issuer: FirebaseTokenIssuer
    webhook_secret: str
    check: ResponseCheck | None = None

    def _answer(self, route_key: str, response: dict[str, Any]) -> tuple[int, Any]:
        status, body = decode(response)
        if self.check is not None:
            self.check(route_key, status, body)
        return status, body

    def token(self, contact: Contact) -> str:
        return self.issuer.token(contact.uid)

    def list_invoices(self, contact: Contact, token: str | None = None) -> tuple[int, Any]:
        return self._answer("GET /api/client/billing", self.functions.list_invoices(
            client_request("list_invoices", token or self.token(contact)), None))

    def checkout(self, contact: Contact, invoice_id: str, token: str | None = None) -> tuple[int, Any]:
        event = client_request("create_checkout", token or self.token(contact), invoiceId=invoice_id)
        return self._answer("POST /api/client/billing/{invoiceId}/checkout",
                            self.functions.create_checkout(event, None))

    def verify(self, contact: Contact, invoice_id: str, session_id: str, token: str | None = None) -> tuple[int, Any]:
        event = client_request("verify_session", token or self.token(contact), invoiceId=invoice_id,
                               sessionId=session_id)
        return self._answer("GET /api/client/billing/{invoiceId}/verify/{sessionId}",
                            self.functions.verify_session(event, None))

    def payments(self, contact: Contact, invoice_id: str, token: str | None = None) -> tuple[int, Any]:
        event = client_request("payment_history", token or self.token(contact), invoiceId=invoice_id)
        return self._answer("GET /api/client/billing/{invoiceId}/payments", self.functions.payment_history(event, None))

    def staff_token(self, uid: str = "staff-uid-1", email: str = "billing@staff.example") -> str:
        return self.issuer.token(uid, billingAdmin=True, email=email)

    def staff(self, method: str, route: str, token: str | None = None, body: Any = None,
              query: dict[str, str] | None = None, headers: dict[str, str] | None = None,
              **path_parameters: str) -> tuple[int, Any]:
        """A staff request: `route` as template.yaml declares it ("/api/admin/invoices/{invoiceRef}")."""
        event = staff_request(f"{method} {route}", token or self.staff_token(), body=body, query=query,
                              headers=headers, **path_parameters)
        return self._answer(f"{method} {route}", self.functions.staff_invoices(event, None))

    def deliver(self, event: dict[str, Any], *, base64_encoded: bool = False, timestamp: int | None = None,
                secret: str | None = None) -> tuple[int, Any]:
        payload = event_payload(event)
        signature = sign_payload(payload, secret or self.webhook_secret, timestamp)
        return self.deliver_raw(payload, signature, base64_encoded=base64_encoded)

    def deliver_raw(self, payload: bytes, signature: str | None, *, base64_encoded: bool = False) -> tuple[int, Any]:
        return self._answer("POST /api/webhook/stripe", self.functions.stripe_webhook(
            webhook_request(payload, signature, base64_encoded=base64_encoded), None))
