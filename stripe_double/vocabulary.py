"""The Stripe API's vocabulary as the pinned SDK has it, and what of it the double models.

Enum values and accepted parameter names are read from the SDK's typed resources and params, so an SDK upgrade that
renames something shows up as a failing test instead of a silently wrong double. Parameters Stripe accepts but the
double does not model (the MODELED_* sets leave them out) are refused with a 400 that says so.
"""

from __future__ import annotations

import typing
from typing import Any

import stripe
from stripe.params import CustomerCreateParams, EventListParams, RefundCreateParams
from stripe.params.checkout import (
    SessionCreateParams,
    SessionCreateParamsLineItem,
    SessionCreateParamsLineItemPriceData,
    SessionCreateParamsLineItemPriceDataProductData,
    SessionCreateParamsPaymentIntentData,
    SessionListLineItemsParams,
    SessionListParams,
)

API_VERSION: str = stripe.api_version
"""The API version the pinned SDK speaks; stamped on every event."""


def literals(annotation: Any) -> tuple[str, ...]:
    """All string literals inside a typing annotation (``Optional[Union[Literal..]]``)."""
    if typing.get_origin(annotation) is typing.Literal:
        return tuple(arg for arg in typing.get_args(annotation) if isinstance(arg, str))
    return tuple(v for arg in typing.get_args(annotation) for v in literals(arg))


def param_names(typed_dict: type) -> frozenset[str]:
    """API parameter names of an SDK params TypedDict (minus client-side options)."""
    return frozenset(typed_dict.__annotations__) - frozenset(stripe.RequestOptions.__annotations__)


_SESSION = stripe.checkout.Session
UI_MODES = literals(_SESSION.__annotations__["ui_mode"])
SESSION_MODES = literals(_SESSION.__annotations__["mode"])
SESSION_STATUSES = literals(_SESSION.__annotations__["status"])
LOCALES = literals(_SESSION.__annotations__["locale"])
SUBMIT_TYPES = literals(_SESSION.__annotations__["submit_type"])
REDIRECT_ON_COMPLETION = literals(_SESSION.__annotations__["redirect_on_completion"])
CUSTOMER_CREATION = literals(_SESSION.__annotations__["customer_creation"])
BILLING_ADDRESS_COLLECTION = literals(_SESSION.__annotations__["billing_address_collection"])
PAYMENT_METHOD_TYPES = literals(SessionCreateParams.__annotations__["allowed_payment_method_types"])
CAPTURE_METHODS = literals(stripe.PaymentIntent.__annotations__["capture_method"])
SETUP_FUTURE_USAGE = literals(stripe.PaymentIntent.__annotations__["setup_future_usage"])
TAX_BEHAVIORS = literals(stripe.Price.__annotations__["tax_behavior"])
REFUND_REASONS = literals(stripe.Refund.__annotations__["reason"])
DISPUTE_STATUSES = literals(stripe.Dispute.__annotations__["status"])
EVENT_TYPES = frozenset(literals(stripe.Event.__annotations__["type"]))

SESSION_CREATE_PARAMS = param_names(SessionCreateParams)
LINE_ITEM_PARAMS = param_names(SessionCreateParamsLineItem)
PRICE_DATA_PARAMS = param_names(SessionCreateParamsLineItemPriceData)
PRODUCT_DATA_PARAMS = param_names(SessionCreateParamsLineItemPriceDataProductData)
PAYMENT_INTENT_DATA_PARAMS = param_names(SessionCreateParamsPaymentIntentData)
SESSION_LIST_PARAMS = param_names(SessionListParams)
LINE_ITEM_LIST_PARAMS = param_names(SessionListLineItemsParams)
CUSTOMER_CREATE_PARAMS = param_names(CustomerCreateParams)
EVENT_LIST_PARAMS = param_names(EventListParams)
REFUND_CREATE_PARAMS = param_names(RefundCreateParams)
RETRIEVE_PARAMS = frozenset({"expand"})

# Parameters the double actually models; the rest of the SDK's names get a 400.
MODELED_SESSION_PARAMS = frozenset(
    {
        "allowed_payment_method_types",
        "billing_address_collection",
        "cancel_url",
        "client_reference_id",
        "customer",
        "customer_creation",
        "customer_email",
        "excluded_payment_method_types",
        "expand",
        "expires_at",
        "line_items",
        "locale",
        "metadata",
        "mode",
        "payment_intent_data",
        "redirect_on_completion",
        "return_url",
        "submit_type",
        "success_url",
        "ui_mode",
    }
)
MODELED_LINE_ITEM_PARAMS = frozenset({"metadata", "price", "price_data", "quantity"})
MODELED_PRICE_DATA_PARAMS = frozenset(
    {"currency", "product", "product_data", "recurring", "tax_behavior", "unit_amount", "unit_amount_decimal"}
)
MODELED_PRODUCT_DATA_PARAMS = frozenset({"description", "images", "metadata", "name", "unit_label"})
MODELED_PAYMENT_INTENT_DATA_PARAMS = frozenset(
    {
        "capture_method",
        "description",
        "metadata",
        "receipt_email",
        "setup_future_usage",
        "statement_descriptor",
        "statement_descriptor_suffix",
    }
)
MODELED_CUSTOMER_PARAMS = frozenset(
    {"description", "email", "expand", "metadata", "name", "phone", "preferred_locales"}
)
PAGINATION_PARAMS = frozenset({"ending_before", "expand", "limit", "starting_after"})
MODELED_SESSION_LIST_PARAMS = PAGINATION_PARAMS | {
    "customer",
    "payment_intent",
    "payment_link",
    "status",
    "subscription",
}
MODELED_EVENT_LIST_PARAMS = PAGINATION_PARAMS | {"created", "type", "types"}
MODELED_REFUND_PARAMS = frozenset({"amount", "charge", "expand", "metadata", "payment_intent", "reason"})

# Names older integrations send that this API version dropped.
RENAMED_PARAMS = {"payment_method_types": "allowed_payment_method_types"}

# fmt: off
# Methods whose payment outcome arrives later (checkout completes "unpaid").
DELAYED_METHODS = (
    "us_bank_account", "sepa_debit", "bacs_debit", "acss_debit", "au_becs_debit", "boleto", "konbini", "oxxo",
    "customer_balance", "sofort", "pay_by_bank",
)

DISPUTE_REASONS = (
    "bank_cannot_process", "check_returned", "credit_not_processed", "customer_initiated", "debit_not_authorized",
    "duplicate", "fraudulent", "general", "incorrect_account_details", "insufficient_funds", "noncompliant",
    "product_not_received", "product_unacceptable", "subscription_canceled", "unrecognized",
)
OPEN_DISPUTE_STATUSES = ("needs_response", "under_review", "warning_needs_response", "warning_under_review")
CLOSED_DISPUTE_STATUSES = ("won", "lost", "warning_closed")

DISPUTE_EVIDENCE_FIELDS = (
    "access_activity_log", "billing_address", "cancellation_policy", "cancellation_policy_disclosure",
    "cancellation_rebuttal", "customer_communication", "customer_email_address", "customer_name",
    "customer_purchase_ip", "customer_signature", "duplicate_charge_documentation", "duplicate_charge_explanation",
    "duplicate_charge_id", "product_description", "receipt", "refund_policy", "refund_policy_disclosure",
    "refund_refusal_explanation", "service_date", "service_documentation", "shipping_address", "shipping_carrier",
    "shipping_date", "shipping_documentation", "shipping_tracking_number", "uncategorized_file", "uncategorized_text",
)

SUPPORTED_CURRENCIES = frozenset((
    "usd", "aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn", "bam", "bbd", "bdt", "bgn", "bhd",
    "bif", "bmd", "bnd", "bob", "brl", "bsd", "bwp", "byn", "bzd", "cad", "cdf", "chf", "clp", "cny", "cop", "crc",
    "cve", "czk", "djf", "dkk", "dop", "dzd", "egp", "etb", "eur", "fjd", "fkp", "gbp", "gel", "gip", "gmd", "gnf",
    "gtq", "gyd", "hkd", "hnl", "htg", "huf", "idr", "ils", "inr", "isk", "jmd", "jod", "jpy", "kes", "kgs", "khr",
    "kmf", "krw", "kwd", "kyd", "kzt", "lak", "lbp", "lkr", "lrd", "lsl", "mad", "mdl", "mga", "mkd", "mmk", "mnt",
    "mop", "mur", "mvr", "mwk", "mxn", "myr", "mzn", "nad", "ngn", "nio", "nok", "npr", "nzd", "omr", "pab", "pen",
    "pgk", "php", "pkr", "pln", "pyg", "qar", "ron", "rsd", "rub", "rwf", "sar", "sbd", "scr", "sek", "sgd", "shp",
    "sle", "sos", "srd", "std", "szl", "thb", "tjs", "tnd", "top", "try", "ttd", "twd", "tzs", "uah", "ugx", "uyu",
    "uzs", "vnd", "vuv", "wst", "xaf", "xcd", "xof", "xpf", "yer", "zar", "zmw",
))

# Currencies whose minor unit is not the hundredth (https://docs.stripe.com/currencies).
ZERO_DECIMAL_CURRENCIES = frozenset((
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
))
THREE_DECIMAL_CURRENCIES = frozenset(("bhd", "jod", "kwd", "omr", "tnd"))

# Stripe's minimum charge per settlement currency, in the smallest currency unit.
MINIMUM_CHARGE = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50, "czk": 1500, "dkk": 250,
    "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50, "jpy": 50, "mxn": 1000, "myr": 200, "nok": 300,
    "nzd": 50, "pln": 200, "ron": 200, "sek": 300, "sgd": 50, "thb": 1000,
}
# fmt: on
MAXIMUM_AMOUNT = 99_999_999

SESSION_MIN_LIFETIME = 30 * 60
SESSION_MAX_LIFETIME = 24 * 60 * 60

# object kind -> {expandable field -> kind of the expanded value}
EXPANDABLE: dict[str, dict[str, str]] = {
    "checkout.session": {
        "customer": "customer",
        "invoice": "invoice",
        "line_items": "list:item",
        "payment_intent": "payment_intent",
        "payment_link": "payment_link",
        "setup_intent": "setup_intent",
        "subscription": "subscription",
    },
    "payment_intent": {"customer": "customer", "latest_charge": "charge"},
    "charge": {"customer": "customer", "payment_intent": "payment_intent"},
    "refund": {"charge": "charge", "payment_intent": "payment_intent"},
    "dispute": {"charge": "charge", "payment_intent": "payment_intent"},
    # A line item's price is embedded, not expandable; listing it lets paths reach price.product.
    "item": {"price": "price"},
    "price": {"product": "product"},
}

ID_PREFIXES = {
    "cus_": "customer",
    "cs_": "checkout.session",
    "pi_": "payment_intent",
    "ch_": "charge",
    "re_": "refund",
    "dp_": "dispute",
    "evt_": "event",
    "price_": "price",
    "prod_": "product",
}
