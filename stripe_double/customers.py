"""Customers (`POST /v1/customers`)."""

from __future__ import annotations

import secrets
from typing import Any

from stripe_double import validation as check
from stripe_double.store import Store, new_id

Json = dict[str, Any]


def create_customer(store: Store, params: Json) -> Json:
    metadata = check.metadata(params.get("metadata", {}), "metadata")
    email = check.email(params["email"], "email") if params.get("email") else None
    description = check.optional_string(params, "description", 350)
    name = check.optional_string(params, "name", 256)
    phone = check.optional_string(params, "phone", 20)
    locales = params.get("preferred_locales", [])
    customer_id = new_id("cus_", 14)
    customer = {
        "id": customer_id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "business_name": None,
        "created": store.now(),
        "currency": None,
        "customer_account": None,
        "default_source": None,
        "delinquent": False,
        "description": description,
        "discount": None,
        "email": email,
        "individual_name": None,
        "invoice_prefix": secrets.token_hex(4).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": store.livemode,
        "metadata": metadata,
        "name": name,
        "next_invoice_sequence": 1,
        "phone": phone,
        "preferred_locales": (check.string_list(locales, "preferred_locales") if locales != "" else []),
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    store.customers[customer_id] = customer
    return customer
