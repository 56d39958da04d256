"""Each function's handler loaded the way Lambda loads it (from template.yaml's CodeUri and Handler) and invoked
the way Lambda invokes it: with a context object, one per invocation, when the caller gives none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from local.runtime import LambdaContext
from local.template import FunctionDefinition, Handler, functions, load_handler


class Invoke(Protocol):
    def __call__(self, event: dict[str, Any], context: Any = None) -> Any: ...


@dataclass(frozen=True)
class Functions:
    list_invoices: Invoke
    create_checkout: Invoke
    verify_session: Invoke
    stripe_webhook: Invoke
    reconcile: Invoke
    stripe_event_retention: Invoke
    notifier: Invoke
    invoice_pdf: Invoke
    payment_history: Invoke
    staff_invoices: Invoke


def load_all() -> Functions:
    handlers = {logical_id: _invoker(definition) for logical_id, definition in functions().items()}
    return Functions(
        list_invoices=handlers["ListInvoicesFunction"],
        create_checkout=handlers["CreateCheckoutFunction"],
        verify_session=handlers["VerifySessionFunction"],
        stripe_webhook=handlers["StripeWebhookFunction"],
        reconcile=handlers["ReconcileFunction"],
        stripe_event_retention=handlers["StripeEventRetentionFunction"],
        notifier=handlers["NotifierFunction"],
        invoice_pdf=handlers["InvoicePdfFunction"],
        payment_history=handlers["PaymentHistoryFunction"],
        staff_invoices=handlers["StaffInvoicesFunction"],
    )


def _invoker(definition: FunctionDefinition) -> Invoke:
    handler: Handler = load_handler(definition.code_dir, definition.handler, definition.logical_id)

    def invoke(event: dict[str, Any], context: Any = None) -> Any:
        return handler(event, context or LambdaContext(definition.logical_id, definition.memory_mb,
                                                       definition.timeout_seconds))

    return invoke
