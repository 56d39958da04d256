"""Each function's handler loaded the way Lambda loads it: from template.yaml's CodeUri and Handler."""

from __future__ import annotations

from dataclasses import dataclass

from local.template import Handler, function_definitions, load_handler


@dataclass(frozen=True)
class Functions:
    list_invoices: Handler
    create_checkout: Handler
    verify_session: Handler
    stripe_webhook: Handler
    reconcile: Handler
    stripe_event_retention: Handler


def load_all() -> Functions:
    handlers = {logical_id: load_handler(path, handler, logical_id)
                for logical_id, (path, handler) in function_definitions().items()}
    return Functions(
        list_invoices=handlers["ListInvoicesFunction"],
        create_checkout=handlers["CreateCheckoutFunction"],
        verify_session=handlers["VerifySessionFunction"],
        stripe_webhook=handlers["StripeWebhookFunction"],
        reconcile=handlers["ReconcileFunction"],
        stripe_event_retention=handlers["StripeEventRetentionFunction"],
    )
