"""Checkout Sessions (`POST /v1/checkout/sessions`): validated the way Stripe validates the parameters this project
sends, one rule per function, then stored with every field the pinned SDK's `checkout.Session` has.

The order of the checks is Stripe's order as far as the double models it: the first problem found is the one
answered.
"""

from __future__ import annotations

import copy
from typing import Any

from stripe_double import validation as check
from stripe_double.errors import invalid, no_such, unsupported
from stripe_double.line_items import build_line_items
from stripe_double.store import Store, new_id, random_text
from stripe_double.vocabulary import (
    BILLING_ADDRESS_COLLECTION,
    CAPTURE_METHODS,
    CUSTOMER_CREATION,
    LOCALES,
    MAXIMUM_AMOUNT,
    MINIMUM_CHARGE,
    MODELED_PAYMENT_INTENT_DATA_PARAMS,
    MODELED_SESSION_PARAMS,
    PAYMENT_INTENT_DATA_PARAMS,
    PAYMENT_METHOD_TYPES,
    REDIRECT_ON_COMPLETION,
    SESSION_CREATE_PARAMS,
    SESSION_MAX_LIFETIME,
    SESSION_MIN_LIFETIME,
    SESSION_MODES,
    SETUP_FUTURE_USAGE,
    SUBMIT_TYPES,
    UI_MODES,
)

Json = dict[str, Any]

# The fields of a session that nothing this project sends can set: what Stripe answers for them here.
_UNMODELED_FIELDS: Json = {
    "adaptive_pricing": {"enabled": False},
    "after_expiration": None,
    "allow_promotion_codes": None,
    "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
    "branding_settings": None,
    "collected_information": None,
    "consent": None,
    "consent_collection": None,
    "currency_conversion": None,
    "custom_fields": [],
    "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                    "terms_of_service_acceptance": None},
    "customer_account": None,
    "customer_details": None,
    "discounts": [],
    "integration_identifier": None,
    "invoice": None,
    "invoice_creation": {
        "enabled": False,
        "invoice_data": {"account_tax_ids": None, "custom_fields": None, "description": None, "footer": None,
                         "issuer": None, "metadata": {}, "rendering_options": None},
    },
    "managed_payments": None,
    "name_collection": None,
    "optional_items": None,
    "origin_context": None,
    "payment_intent": None,
    "payment_link": None,
    "payment_method_collection": "if_required",
    "payment_method_configuration_details": None,
    "payment_method_options": {},
    "payment_status": "unpaid",
    "permissions": None,
    "phone_number_collection": {"enabled": False},
    "presentment_details": None,
    "recovered_from": None,
    "saved_payment_method_options": None,
    "setup_intent": None,
    "shipping_address_collection": None,
    "shipping_cost": None,
    "shipping_options": [],
    "status": "open",
    "subscription": None,
    "tax_id_collection": {"enabled": False, "required": "never"},
    "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
    "wallet_options": None,
}
_EMBEDDED_UI_MODES = ("embedded_page", "elements")


def create_session(store: Store, params: Json) -> Json:
    """Validate like Stripe does for the parameters we use, then store a session."""
    check.known(params, SESSION_CREATE_PARAMS, MODELED_SESSION_PARAMS)
    mode, ui_mode = _modes(params)
    embedded = ui_mode in _EMBEDDED_UI_MODES
    urls = _redirect_urls(params, ui_mode, embedded)
    customer = _customer(store, params)
    methods = _payment_method_types(params)
    now = store.now()
    expires_at = _expires_at(params, now)
    metadata = check.metadata(params.get("metadata", {}), "metadata")
    intent_data = payment_intent_data(params.get("payment_intent_data", {}))
    line_items, currency = build_line_items(store, params, now)
    amount = _amount_due(line_items, currency)
    shown = _presentation(params)

    session_id = new_id("cs_test_a1", 56)
    fields: Json = {
        **copy.deepcopy(_UNMODELED_FIELDS),
        **customer,
        **methods,
        **shown,
        "amount_subtotal": amount,
        "amount_total": amount,
        "cancel_url": urls.get("cancel_url"),
        "client_secret": f"{session_id}_secret_{random_text(24)}" if embedded else None,
        "created": now,
        "currency": currency,
        "expires_at": expires_at,
        "livemode": store.livemode,
        "metadata": metadata,
        "mode": mode,
        "redirect_on_completion": urls.get("redirect_on_completion"),
        "return_url": urls.get("return_url"),
        "success_url": urls.get("success_url"),
        "ui_mode": ui_mode,
        "url": None if embedded else f"{store.checkout_url}{session_id}",
    }
    session = {"id": session_id, "object": "checkout.session", **dict(sorted(fields.items()))}
    store.sessions[session_id] = session
    store.line_items[session_id] = line_items
    store.intent_data[session_id] = intent_data
    return session


def _modes(params: Json) -> tuple[str, str]:
    """`mode` (payment only: the double models no subscription or setup) and `ui_mode`."""
    mode = check.enum(check.required(params, "mode"), SESSION_MODES, "mode")
    if mode != "payment":
        raise unsupported(f"mode={mode}")
    ui_mode = check.enum(params.get("ui_mode", "hosted_page"), UI_MODES, "ui_mode")
    if ui_mode == "form":
        raise unsupported("ui_mode=form")
    return mode, ui_mode


def _redirect_urls(params: Json, ui_mode: str, embedded: bool) -> dict[str, str]:
    """The redirect parameters and the ``ui_mode`` rules that govern them."""
    urls: dict[str, str] = {}
    redirect = _redirect_on_completion(params, embedded)
    if embedded:
        _check_embedded_urls(params, ui_mode, redirect)
        urls["redirect_on_completion"] = redirect or "always"
    elif "return_url" in params:
        raise invalid("`return_url` can only be used when `ui_mode` is `embedded_page` or `elements`.", "return_url")
    for name in ("return_url", "success_url", "cancel_url"):
        if name in params:
            urls[name] = check.url(params[name], name)
    return urls


def _redirect_on_completion(params: Json, embedded: bool) -> str | None:
    if "redirect_on_completion" not in params:
        return None
    if not embedded:
        raise invalid("`redirect_on_completion` can only be used when `ui_mode` is `embedded_page` or `elements`.",
                      "redirect_on_completion")
    return check.enum(params["redirect_on_completion"], REDIRECT_ON_COMPLETION, "redirect_on_completion")


def _check_embedded_urls(params: Json, ui_mode: str, redirect: str | None) -> None:
    """An embedded page returns to `return_url` (unless it never redirects), never to success or cancel URLs."""
    for name in ("success_url", "cancel_url"):
        if name in params:
            raise invalid(f"You cannot pass `{name}` when `ui_mode` is `{ui_mode}`.", name)
    if redirect == "never" and "return_url" in params:
        raise invalid("`return_url` cannot be passed when `redirect_on_completion` is `never`.", "return_url")
    if redirect != "never" and "return_url" not in params:
        raise invalid(f"A `return_url` is required when `ui_mode` is `{ui_mode}` unless `redirect_on_completion` is "
                      "`never`.", "return_url", "parameter_missing")


def _customer(store: Store, params: Json) -> Json:
    """`customer` (an existing one) or `customer_email`, and `customer_creation` when there is no customer."""
    customer_id = None
    if "customer" in params:
        customer_id = check.string(params["customer"], "customer")
        if "customer_email" in params:
            raise invalid("You may only specify one of these parameters: customer, customer_email.", "customer_email")
        if customer_id not in store.customers:
            raise no_such("customer", customer_id, param="customer", status=400)
    customer_email = check.email(params["customer_email"], "customer_email") if "customer_email" in params else None
    customer_creation = None
    if "customer_creation" in params:
        customer_creation = check.enum(params["customer_creation"], CUSTOMER_CREATION, "customer_creation")
        if customer_id is not None:
            raise invalid("`customer_creation` can only be used when `customer` is not set.", "customer_creation")
    elif customer_id is None:
        customer_creation = "if_required"
    return {"customer": customer_id, "customer_creation": customer_creation, "customer_email": customer_email}


def _payment_method_types(params: Json) -> Json:
    allowed = excluded = None
    if "allowed_payment_method_types" in params:
        allowed = check.enum_list(params["allowed_payment_method_types"], PAYMENT_METHOD_TYPES,
                                  "allowed_payment_method_types")
    if "excluded_payment_method_types" in params:
        excluded = check.enum_list(params["excluded_payment_method_types"], PAYMENT_METHOD_TYPES,
                                   "excluded_payment_method_types")
    method_types = [t for t in (allowed or ["card"]) if t not in (excluded or [])]
    if not method_types:
        raise invalid("No valid payment method types for this Checkout Session.", "allowed_payment_method_types")
    return {"allowed_payment_method_types": allowed, "excluded_payment_method_types": excluded,
            "payment_method_types": method_types}


def _expires_at(params: Json, now: int) -> int:
    if "expires_at" not in params:
        return now + SESSION_MAX_LIFETIME
    expires_at = check.integer(params["expires_at"], "expires_at")
    if expires_at < now + SESSION_MIN_LIFETIME:
        raise invalid("The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
                      "expires_at")
    if expires_at > now + SESSION_MAX_LIFETIME:
        raise invalid("The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
                      "expires_at")
    return expires_at


def _amount_due(line_items: list[Json], currency: str) -> int:
    """The total of the line items, within Stripe's minimum charge and maximum amount."""
    amount = sum(int(item["amount_total"]) for item in line_items)
    minimum = MINIMUM_CHARGE.get(currency)
    if minimum is not None and amount < minimum:
        raise invalid("The Checkout Session's total amount due must add up to at least "
                      f"{minimum} (in the smallest {currency} unit).", code="amount_too_small")
    if amount > MAXIMUM_AMOUNT:
        raise invalid("The Checkout Session's total amount due must be no more than "
                      f"{MAXIMUM_AMOUNT} (in the smallest {currency} unit).", code="amount_too_large")
    return amount


def _presentation(params: Json) -> Json:
    """What the payment page shows and asks: address collection, locale, submit button, the caller's reference."""
    return {
        "billing_address_collection": (
            check.enum(params["billing_address_collection"], BILLING_ADDRESS_COLLECTION, "billing_address_collection")
            if "billing_address_collection" in params else None
        ),
        "client_reference_id": check.optional_string(params, "client_reference_id", 200),
        "locale": check.enum(params["locale"], LOCALES, "locale") if "locale" in params else None,
        "submit_type": check.enum(params["submit_type"], SUBMIT_TYPES, "submit_type") if "submit_type" in params
        else None,
    }


def payment_intent_data(value: Any) -> Json:
    """`payment_intent_data`: what the session's PaymentIntent is made with when the customer pays."""
    if value in ({}, ""):
        return {}
    if not isinstance(value, dict):
        raise invalid("Invalid object", "payment_intent_data")
    prefix = "payment_intent_data"
    check.known(value, PAYMENT_INTENT_DATA_PARAMS, MODELED_PAYMENT_INTENT_DATA_PARAMS, prefix)
    data: Json = {"metadata": check.metadata(value.get("metadata", {}), f"{prefix}[metadata]")}
    limits = {"description": 1000, "statement_descriptor": 22, "statement_descriptor_suffix": 22}
    for name, limit in limits.items():
        if name in value:
            data[name] = check.string(value[name], f"{prefix}[{name}]", max_length=limit)
    if "receipt_email" in value:
        data["receipt_email"] = check.email(value["receipt_email"], f"{prefix}[receipt_email]")
    if "capture_method" in value:
        capture = check.enum(value["capture_method"], CAPTURE_METHODS, f"{prefix}[capture_method]")
        if capture == "manual":
            raise unsupported(f"{prefix}[capture_method]=manual")
        data["capture_method"] = capture
    if "setup_future_usage" in value:
        data["setup_future_usage"] = check.enum(value["setup_future_usage"], SETUP_FUTURE_USAGE,
                                                f"{prefix}[setup_future_usage]")
    return data
