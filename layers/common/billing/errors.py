"""Domain errors. Each carries the HTTP status it maps to; `billing.http` is the one place that turns them
into responses. Messages are safe to show a client: they never contain a token, key or secret."""

from __future__ import annotations


class BillingError(Exception):
    status_code = 500
    public_message = "internal error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.public_message)
        self.message = message or self.public_message


class BadRequest(BillingError):
    status_code = 400
    public_message = "bad request"


class NotAuthenticated(BillingError):
    status_code = 401
    public_message = "missing, invalid or expired ID token"


class NoContact(BillingError):
    """A valid token whose user is not a portal contact (or a contact without a company)."""

    status_code = 403
    public_message = "no client contact for this account"


class AmbiguousContact(NoContact):
    """A valid token whose uid names several contacts (a portal database without a unique "firebaseUid"): which
    company's invoices it may see cannot be told, so it sees none."""

    public_message = "this account matches several client contacts; ask the portal's support"


class NotStaff(BillingError):
    """A valid token without the staff claim on a staff route."""

    status_code = 403
    public_message = "staff only"


class InvoiceNotFound(BillingError):
    """Also raised for another company's invoice: the same answer, so invoice ids cannot be probed."""

    status_code = 404
    public_message = "invoice not found"


class CheckoutSessionNotFound(BillingError):
    status_code = 404
    public_message = "checkout session not found for this invoice"


class InvoiceNotPayable(BillingError):
    status_code = 409
    public_message = "invoice is not payable"


class InvoiceNotEditable(BillingError):
    """Staff may change only an invoice whose money is neither taken nor in flight."""

    status_code = 409
    public_message = "invoice cannot be changed"


class PaymentCompletedMeanwhile(InvoiceNotEditable):
    """The invoice's open checkout completed while staff changed it: the payment was applied, the change refused."""

    public_message = "a payment of this invoice completed meanwhile: it was applied and the change refused"


class NothingToRefund(BillingError):
    status_code = 409
    public_message = "nothing to refund on this invoice"


class PayloadTooLarge(BillingError):
    status_code = 413
    public_message = "request body too large"


class UnsupportedAmount(BillingError):
    """The invoice's amount cannot be charged in its currency (too many decimals, unknown currency)."""

    status_code = 422
    public_message = "invoice amount cannot be charged in its currency"


class Unprocessable(BillingError):
    """A well-formed request that cannot be done as asked; `reasons` says every reason (nothing was written)."""

    status_code = 422
    public_message = "request cannot be processed"

    def __init__(self, message: str | None = None, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = reasons or [self.message]


class PaymentProviderUnavailable(BillingError):
    status_code = 502
    public_message = "payment provider unavailable, nothing was changed; try again"


class AuthProviderUnavailable(BillingError):
    status_code = 503
    public_message = "cannot verify tokens right now; try again"


class ServiceUnavailable(BillingError):
    """A transient failure of ours (database): 5xx so that Stripe retries webhooks."""

    status_code = 503
    public_message = "service temporarily unavailable; try again"


class ConfigurationError(Exception):
    """A setting is missing or invalid: raised at cold start, so the function never serves half-configured.
    `problems` lists each one on its own (`make doctor` prints one line per problem)."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class UncheckedDriver(RuntimeError):
    """The installed database driver is not a version its tuning (billing/db_pg8000.py, billing/db_sqlite.py) was
    checked against: no engine is made until someone has checked it (an upgrade fails loudly, never silently)."""
