"""Load each function's handler the way Lambda does: from template.yaml's CodeUri and Handler."""

from __future__ import annotations

from dataclasses import dataclass

# The template reading is shared with the local API server and `make invoke` (local/template.py).
from local.template import ROOT, Handler, function_definitions, load_handler, template

__all__ = ["ROOT", "Functions", "Handler", "function_definitions", "load_all", "load_handler", "template"]


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
